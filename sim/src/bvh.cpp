#include "v2x/sim/bvh.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>

#ifdef V2X_BVH_STATS
std::uint64_t g_bvh_nodes = 0, g_bvh_prims = 0, g_bvh_rays = 0;
#define V2X_STAT(x) (x)
#else
#define V2X_STAT(x) ((void)0)
#endif

namespace v2x::sim {

float material_reflectivity(Material m) {
  static constexpr std::array<float, static_cast<std::size_t>(Material::Count)> r{
      0.12f,  // Asphalt
      0.75f,  // LaneMarking (retro-reflective paint)
      0.32f,  // Concrete
      0.22f,  // Grass
      0.30f,  // Building
      0.06f,  // Glass
      0.28f,  // Wall
      0.20f,  // Foliage
      0.15f,  // Bark
      0.55f,  // Metal
      0.42f,  // Paint
      0.04f,  // Tire
      0.25f,  // Skin
      0.22f,  // Fabric
  };
  return r[static_cast<std::size_t>(m)];
}

BoxPrim BoxPrim::make(const Eigen::Vector3d& center, const Eigen::Vector3d& size, double yaw_rad, Material m,
                      std::int32_t owner, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  BoxPrim p;
  p.center = center.cast<float>();
  p.half = (0.5 * size).cast<float>();
  p.cos_yaw = static_cast<float>(std::cos(yaw_rad));
  p.sin_yaw = static_cast<float>(std::sin(yaw_rad));
  p.axis_aligned = yaw_rad == 0.0;
  if (p.axis_aligned) p.cos_yaw = 1.f, p.sin_yaw = 0.f;
  p.owner = owner;
  p.material = m;
  p.r = r;
  p.g = g;
  p.b = b;
  return p;
}

void BoxPrim::bounds(Eigen::Vector3f& lo, Eigen::Vector3f& hi) const {
  const float ex = std::abs(cos_yaw) * half.x() + std::abs(sin_yaw) * half.y();
  const float ey = std::abs(sin_yaw) * half.x() + std::abs(cos_yaw) * half.y();
  const Eigen::Vector3f e(ex, ey, half.z());
  lo = center - e;
  hi = center + e;
}

namespace {
inline float safe_inv(float d) { return 1.0f / (std::abs(d) > 1e-12f ? d : (d < 0 ? -1e-12f : 1e-12f)); }
}  // namespace

bool intersect_box(const BoxPrim& p, const Ray& ray, float t_min, float t_max, float& t_hit, Eigen::Vector3f& normal) {
  // Ray in the box frame (rotation by -yaw about z, origin at the box centre).
  const float dx = ray.origin.x() - p.center.x(), dy = ray.origin.y() - p.center.y();
  const float o[3] = {p.cos_yaw * dx + p.sin_yaw * dy, -p.sin_yaw * dx + p.cos_yaw * dy, ray.origin.z() - p.center.z()};
  const float d[3] = {p.cos_yaw * ray.dir.x() + p.sin_yaw * ray.dir.y(), -p.sin_yaw * ray.dir.x() + p.cos_yaw * ray.dir.y(),
                      ray.dir.z()};
  const float h[3] = {p.half.x(), p.half.y(), p.half.z()};
  float t0 = t_min, t1 = t_max;
  int axis = -1;
  for (int a = 0; a < 3; ++a) {
    const float inv = safe_inv(d[a]);
    float tn = (-h[a] - o[a]) * inv, tf = (h[a] - o[a]) * inv;
    if (tn > tf) std::swap(tn, tf);
    if (tn > t0) {
      t0 = tn;
      axis = a;
    }
    if (tf < t1) t1 = tf;
    if (t0 > t1) return false;
  }
  if (axis < 0) return false;  // origin inside the box (or entry before t_min): no front-face hit
  t_hit = t0;
  const float s = d[axis] > 0 ? -1.f : 1.f;
  if (axis == 2) {
    normal = Eigen::Vector3f(0, 0, s);
  } else if (axis == 0) {
    normal = Eigen::Vector3f(s * p.cos_yaw, s * p.sin_yaw, 0);
  } else {
    normal = Eigen::Vector3f(-s * p.sin_yaw, s * p.cos_yaw, 0);
  }
  return true;
}

void Bvh::build(std::vector<BoxPrim> prims) {
  nodes_.clear();
  const auto n = static_cast<std::uint32_t>(prims.size());
  if (n == 0) {
    prims_.clear();
    return;
  }
  std::vector<Eigen::Vector3f> lo(n), hi(n), c(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    prims[i].bounds(lo[i], hi[i]);
    c[i] = 0.5f * (lo[i] + hi[i]);
  }
  std::vector<std::uint32_t> idx(n);
  for (std::uint32_t i = 0; i < n; ++i) idx[i] = i;
  nodes_.reserve(n);
  build_recursive(idx, 0, n, lo, hi, c, 0);
  prims_.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) prims_[i] = prims[idx[i]];
}

std::uint32_t Bvh::build_recursive(std::vector<std::uint32_t>& idx, std::uint32_t begin, std::uint32_t end,
                                   const std::vector<Eigen::Vector3f>& lo, const std::vector<Eigen::Vector3f>& hi,
                                   const std::vector<Eigen::Vector3f>& centroid, int depth) {
  const auto self = static_cast<std::uint32_t>(nodes_.size());
  nodes_.push_back({});
  Eigen::Vector3f blo = Eigen::Vector3f::Constant(std::numeric_limits<float>::max());
  Eigen::Vector3f bhi = -blo;
  Eigen::Vector3f clo = blo, chi = bhi;
  for (std::uint32_t i = begin; i < end; ++i) {
    blo = blo.cwiseMin(lo[idx[i]]);
    bhi = bhi.cwiseMax(hi[idx[i]]);
    clo = clo.cwiseMin(centroid[idx[i]]);
    chi = chi.cwiseMax(centroid[idx[i]]);
  }
  for (int a = 0; a < 3; ++a) {
    nodes_[self].lo[a] = blo[a];
    nodes_[self].hi[a] = bhi[a];
  }
  const std::uint32_t count = end - begin;
  auto make_leaf = [&] {
    nodes_[self].first = begin;
    nodes_[self].count = count;
    return self;
  };
  if (count <= 4) return make_leaf();

  auto area = [](const Eigen::Vector3f& l, const Eigen::Vector3f& h) {
    const Eigen::Vector3f e = (h - l).cwiseMax(0.f);
    return e.x() * e.y() + e.y() * e.z() + e.z() * e.x();
  };
  // Binned SAH over all three axes; costs: traversal 1, primitive 1 (relative).
  constexpr int kBins = 16;
  float best_cost = std::numeric_limits<float>::max();
  int best_axis = -1, best_split = -1;
  for (int a = 0; a < 3; ++a) {
    const float extent = chi[a] - clo[a];
    if (extent < 1e-6f) continue;
    struct Bin {
      Eigen::Vector3f lo = Eigen::Vector3f::Constant(std::numeric_limits<float>::max());
      Eigen::Vector3f hi = Eigen::Vector3f::Constant(-std::numeric_limits<float>::max());
      std::uint32_t n = 0;
    };
    std::array<Bin, kBins> bins{};
    const float scale = kBins / extent;
    for (std::uint32_t i = begin; i < end; ++i) {
      const auto k = std::min(kBins - 1, static_cast<int>((centroid[idx[i]][a] - clo[a]) * scale));
      bins[k].lo = bins[k].lo.cwiseMin(lo[idx[i]]);
      bins[k].hi = bins[k].hi.cwiseMax(hi[idx[i]]);
      ++bins[k].n;
    }
    std::array<float, kBins - 1> left_cost{};
    Bin acc;
    for (int k = 0; k < kBins - 1; ++k) {
      acc.lo = acc.lo.cwiseMin(bins[k].lo);
      acc.hi = acc.hi.cwiseMax(bins[k].hi);
      acc.n += bins[k].n;
      left_cost[k] = acc.n ? area(acc.lo, acc.hi) * static_cast<float>(acc.n) : 0.f;
    }
    acc = Bin{};
    for (int k = kBins - 1; k > 0; --k) {
      acc.lo = acc.lo.cwiseMin(bins[k].lo);
      acc.hi = acc.hi.cwiseMax(bins[k].hi);
      acc.n += bins[k].n;
      const float cost = left_cost[k - 1] + (acc.n ? area(acc.lo, acc.hi) * static_cast<float>(acc.n) : 0.f);
      if (acc.n && acc.n < count && cost < best_cost) {
        best_cost = cost;
        best_axis = a;
        best_split = k;
      }
    }
  }
  std::uint32_t mid;
  if (best_axis < 0 || depth > 40) {
    // All centroids coincide, or the tree got deep: median split on the widest centroid axis keeps the
    // depth (and the traversal stack of 64) bounded.
    int a = 0;
    const Eigen::Vector3f ext = chi - clo;
    if (ext[1] > ext[a]) a = 1;
    if (ext[2] > ext[a]) a = 2;
    mid = begin + count / 2;
    std::nth_element(idx.begin() + begin, idx.begin() + mid, idx.begin() + end,
                     [&](std::uint32_t x, std::uint32_t y) { return centroid[x][a] < centroid[y][a] || (centroid[x][a] == centroid[y][a] && x < y); });
  } else {
    const float leaf_cost = area(blo, bhi) * static_cast<float>(count);
    if (best_cost >= leaf_cost && count <= 8) return make_leaf();
    const float scale = kBins / (chi[best_axis] - clo[best_axis]);
    auto it = std::partition(idx.begin() + begin, idx.begin() + end, [&](std::uint32_t i) {
      const int k = std::min(kBins - 1, static_cast<int>((centroid[i][best_axis] - clo[best_axis]) * scale));
      return k < best_split;
    });
    mid = static_cast<std::uint32_t>(it - idx.begin());
    if (mid == begin || mid == end) mid = begin + count / 2;
  }
  build_recursive(idx, begin, mid, lo, hi, centroid, depth + 1);
  const std::uint32_t right = build_recursive(idx, mid, end, lo, hi, centroid, depth + 1);
  nodes_[self].first = right;
  nodes_[self].count = 0;
  return self;
}

template <bool kAnyHit>
Hit Bvh::traverse(const Ray& ray, float t_min, float t_max, std::int32_t ignore_owner) const {
  Hit best;
  if (nodes_.empty()) return best;
  const float inv[3] = {safe_inv(ray.dir.x()), safe_inv(ray.dir.y()), safe_inv(ray.dir.z())};
  const float org[3] = {ray.origin.x(), ray.origin.y(), ray.origin.z()};
  float t_best = t_max;
  // Slab test of a node's AABB, branch-free (min/max).
  auto box_entry = [&](const Node& nd, float& t_enter) {
    float t0 = t_min, t1 = t_best;
    for (int a = 0; a < 3; ++a) {
      const float ta = (nd.lo[a] - org[a]) * inv[a], tb = (nd.hi[a] - org[a]) * inv[a];
      t0 = std::max(t0, std::min(ta, tb));
      t1 = std::min(t1, std::max(ta, tb));
    }
    t_enter = t0;
    return t0 <= t1;
  };
  V2X_STAT(++g_bvh_rays);
  StackEntry stack[64];
  int sp = 0;
  std::uint32_t ni = 0;
  float t_root;
  if (!box_entry(nodes_[0], t_root)) return best;
  for (;;) {
    const Node& nd = nodes_[ni];
    V2X_STAT(++g_bvh_nodes);
    if (nd.count > 0) {
      for (std::uint32_t i = nd.first; i < nd.first + nd.count; ++i) {
        const BoxPrim& p = prims_[i];
        V2X_STAT(++g_bvh_prims);
        if (p.owner == ignore_owner) continue;
        float t;
        Eigen::Vector3f n;
        bool hit;
        if (p.axis_aligned) {
          // Same slab test as the nodes, with the ray's own inverse direction: no rotation, no division.
          float t0 = t_min, t1 = t_best;
          int axis = -1;
          for (int a = 0; a < 3; ++a) {
            const float ta = (p.center[a] - p.half[a] - org[a]) * inv[a], tb = (p.center[a] + p.half[a] - org[a]) * inv[a];
            const float tn = std::min(ta, tb), tf = std::max(ta, tb);
            if (tn > t0) t0 = tn, axis = a;
            t1 = std::min(t1, tf);
          }
          hit = axis >= 0 && t0 <= t1;
          if (hit) {
            t = t0;
            n = Eigen::Vector3f::Zero();
            n[axis] = inv[axis] > 0 ? -1.f : 1.f;
          }
        } else {
          hit = intersect_box(p, ray, t_min, t_best, t, n);
        }
        if (hit) {
          t_best = t;
          best.t = t;
          best.prim = static_cast<std::int32_t>(i);
          best.normal = n;
          if constexpr (kAnyHit) return best;
        }
      }
    } else {
      const std::uint32_t l = ni + 1, r = nd.first;
      float tl, tr;
      const bool hl = box_entry(nodes_[l], tl), hr = box_entry(nodes_[r], tr);
      if (hl && hr) {
        const bool left_first = tl <= tr;
        ni = left_first ? l : r;
        assert(sp < 64);
        stack[sp++] = {left_first ? r : l, left_first ? tr : tl};
        continue;
      }
      if (hl) {
        ni = l;
        continue;
      }
      if (hr) {
        ni = r;
        continue;
      }
    }
    // Pop, skipping nodes entered beyond the best hit found since they were pushed.
    for (;;) {
      if (sp == 0) return best;
      --sp;
      if (stack[sp].t_enter <= t_best) {
        ni = stack[sp].node;
        break;
      }
    }
  }
}

Hit Bvh::intersect(const Ray& ray, float t_min, float t_max, std::int32_t ignore_owner) const {
  return traverse<false>(ray, t_min, t_max, ignore_owner);
}

bool Bvh::occluded(const Ray& ray, float t_min, float t_max, std::int32_t ignore_owner) const {
  return traverse<true>(ray, t_min, t_max, ignore_owner).valid();
}

}  // namespace v2x::sim
