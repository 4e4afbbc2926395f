// Town generation: road graph, lanes and intersection movements, scenery, ground raster, actor spawning.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "v2x/core/config.hpp"
#include "v2x/sim/world.hpp"

namespace v2x::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;

Eigen::Vector2d perp_left(const Eigen::Vector2d& u) { return {-u.y(), u.x()}; }

double clampd(double x, double lo, double hi) { return std::max(lo, std::min(hi, x)); }

template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {  // Fisher–Yates with our deterministic Rng
  for (std::size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.next_u64() % i);
    std::swap(v[i - 1], v[j]);
  }
}

// 2D oriented-rectangle overlap (separating axis theorem).
struct Obb2 {
  Eigen::Vector2d c;
  Eigen::Vector2d ax;  // unit length axis
  double hl, hw;
};
bool obb_overlap(const Obb2& a, const Obb2& b) {
  const Eigen::Vector2d axes[4] = {a.ax, perp_left(a.ax), b.ax, perp_left(b.ax)};
  const Eigen::Vector2d d = b.c - a.c;
  for (const auto& n : axes) {
    const double ra = a.hl * std::abs(a.ax.dot(n)) + a.hw * std::abs(perp_left(a.ax).dot(n));
    const double rb = b.hl * std::abs(b.ax.dot(n)) + b.hw * std::abs(perp_left(b.ax).dot(n));
    if (std::abs(d.dot(n)) > ra + rb) return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Polyline

void Polyline::finish() {
  cum.assign(pts.size(), 0.0);
  for (std::size_t i = 1; i < pts.size(); ++i) cum[i] = cum[i - 1] + (pts[i] - pts[i - 1]).norm();
}

void Polyline::sample(double s, Eigen::Vector2d& p, double& heading) const {
  if (pts.size() < 2) {
    p = pts.empty() ? Eigen::Vector2d(0, 0) : pts[0];
    heading = 0;
    return;
  }
  s = clampd(s, 0.0, length());
  auto it = std::upper_bound(cum.begin(), cum.end(), s);
  std::size_t i = static_cast<std::size_t>(it - cum.begin());
  if (i == 0) i = 1;
  if (i >= pts.size()) i = pts.size() - 1;
  const double seg = cum[i] - cum[i - 1];
  const double f = seg > 1e-9 ? (s - cum[i - 1]) / seg : 0.0;
  p = pts[i - 1] + f * (pts[i] - pts[i - 1]);
  const Eigen::Vector2d d = pts[i] - pts[i - 1];
  heading = std::atan2(d.y(), d.x());
}

Polyline Polyline::line(const Eigen::Vector2d& a, const Eigen::Vector2d& b) {
  Polyline pl;
  pl.pts = {a, b};
  pl.finish();
  return pl;
}

Polyline Polyline::bezier(const Eigen::Vector2d& p0, const Eigen::Vector2d& d0, const Eigen::Vector2d& p3,
                          const Eigen::Vector2d& d3) {
  const double dist = (p3 - p0).norm();
  const double k = 0.42 * dist;
  const Eigen::Vector2d p1 = p0 + k * d0, p2 = p3 - k * d3;
  const int n = std::max(2, static_cast<int>(std::ceil(dist / 0.5)));
  Polyline pl;
  for (int i = 0; i <= n; ++i) {
    const double t = static_cast<double>(i) / n, u = 1 - t;
    pl.pts.push_back(u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3);
  }
  pl.finish();
  return pl;
}

// ---------------------------------------------------------------------------------------------------------
// Ground raster

Ground GroundMap::at(double x, double y) const {
  const int cx = static_cast<int>(std::floor((x - x0_m) / res_m));
  const int cy = static_cast<int>(std::floor((y - y0_m) / res_m));
  if (cx < 0 || cy < 0 || cx >= width || cy >= height) return Ground::Grass;
  return static_cast<Ground>(cells[static_cast<std::size_t>(cy) * width + cx]);
}

void GroundMap::paint_rect(const Eigen::Vector2d& c, const Eigen::Vector2d& axis, double hl, double hw, Ground g) {
  const Eigen::Vector2d n = perp_left(axis);
  const double ex = std::abs(axis.x()) * hl + std::abs(n.x()) * hw;
  const double ey = std::abs(axis.y()) * hl + std::abs(n.y()) * hw;
  const int x_lo = std::max(0, static_cast<int>(std::floor((c.x() - ex - x0_m) / res_m)));
  const int x_hi = std::min(width - 1, static_cast<int>(std::floor((c.x() + ex - x0_m) / res_m)));
  const int y_lo = std::max(0, static_cast<int>(std::floor((c.y() - ey - y0_m) / res_m)));
  const int y_hi = std::min(height - 1, static_cast<int>(std::floor((c.y() + ey - y0_m) / res_m)));
  for (int cy = y_lo; cy <= y_hi; ++cy)
    for (int cx = x_lo; cx <= x_hi; ++cx) {
      const Eigen::Vector2d p(x0_m + (cx + 0.5) * res_m - c.x(), y0_m + (cy + 0.5) * res_m - c.y());
      if (std::abs(p.dot(axis)) <= hl && std::abs(p.dot(n)) <= hw)
        cells[static_cast<std::size_t>(cy) * width + cx] = static_cast<std::uint8_t>(g);
    }
}

// ---------------------------------------------------------------------------------------------------------
// World construction

Box3D Actor::box() const {
  Box3D b;
  b.center = pos + Eigen::Vector3d(0, 0, 0.5 * size.z());
  b.l_m = size.x();
  b.w_m = size.y();
  b.h_m = size.z();
  b.yaw_rad = yaw_rad;
  return b;
}

World::World(const SimConfig& cfg, std::uint64_t seed) : cfg_(cfg), rng_(Rng(seed).fork(0x51u)) {
  validate_config(cfg_);
  Rng layout_rng = Rng(seed).fork(1);
  if (cfg_.town.layout == TownLayout::HighwayMerge) build_highway(layout_rng);
  else build_grid_roads(layout_rng);
  build_lanes_and_movements();
  Rng scenery_rng = Rng(seed).fork(2);
  build_scenery(scenery_rng);
  paint_ground();
  Rng spawn_rng = Rng(seed).fork(3);
  spawn_actors(spawn_rng);
  // Parked vehicles are static: they go into the scenery BVH.
  std::vector<BoxPrim> prims = static_prims_;
  for (const auto& a : actors_)
    if (a.mode == ActorMode::Parked) actor_prims(a, prims);
  static_bvh_.build(std::move(prims));
  rebuild_dynamic();
  const double warmup = cfg_.traffic.warmup_s;
  for (double t = 0; t + 1e-9 < warmup; t += 0.1) step(0.1);
  time_s_ = 0;
}

void World::build_grid_roads(Rng& rng) {
  const auto& tc = cfg_.town;
  const bool suburban = tc.layout == TownLayout::Suburban;
  const int nx = tc.blocks_x + 1, ny = tc.blocks_y + 1;
  std::vector<double> xs(nx, 0.0), ys(ny, 0.0);
  for (int i = 1; i < nx; ++i) xs[i] = xs[i - 1] + rng.uniform(tc.block_min_m, tc.block_max_m);
  for (int j = 1; j < ny; ++j) ys[j] = ys[j - 1] + rng.uniform(tc.block_min_m, tc.block_max_m);
  const double mx = 0.5 * xs.back(), my = 0.5 * ys.back();
  for (auto& x : xs) x -= mx;
  for (auto& y : ys) y -= my;
  for (int j = 0; j < ny; ++j)
    for (int i = 0; i < nx; ++i) {
      RoadNode n;
      n.p = {xs[i], ys[j]};
      nodes_.push_back(n);
    }
  auto lanes_for = [&](Rng& r) {
    const int lo = tc.lanes_min, hi = std::max(tc.lanes_min, tc.lanes_max);
    return r.uniform_int(lo, hi);
  };
  // Lanes and parking per row / column ("avenues" keep their width across the town).
  std::vector<int> row_lanes(ny), col_lanes(nx);
  std::vector<bool> row_park(ny), col_park(nx);
  for (int j = 0; j < ny; ++j) {
    row_lanes[j] = lanes_for(rng);
    row_park[j] = rng.bernoulli(tc.parking_fraction);
  }
  for (int i = 0; i < nx; ++i) {
    col_lanes[i] = lanes_for(rng);
    col_park[i] = rng.bernoulli(tc.parking_fraction);
  }
  auto make_edge = [&](int a, int b, int lanes, bool park) {
    RoadEdge e;
    e.a = a;
    e.b = b;
    e.lanes_fwd = (lanes + 1) / 2;
    e.lanes_bwd = lanes / 2;
    e.lane_width_m = tc.lane_width_m;
    e.speed_mps = tc.speed_limit_mps * (lanes >= 4 ? 1.0 : 0.85);
    e.parking_m = park ? 2.4 : 0.0;
    e.sidewalk_m = tc.sidewalk_width_m;
    return e;
  };
  std::vector<RoadEdge> all;
  for (int j = 0; j < ny; ++j)
    for (int i = 0; i + 1 < nx; ++i) all.push_back(make_edge(j * nx + i, j * nx + i + 1, row_lanes[j], row_park[j]));
  for (int i = 0; i < nx; ++i)
    for (int j = 0; j + 1 < ny; ++j) all.push_back(make_edge(j * nx + i, (j + 1) * nx + i, col_lanes[i], col_park[i]));
  // Remove a share of roads (T intersections), keeping every node at degree ≥ 2 and the graph connected.
  std::vector<bool> keep(all.size(), true);
  std::vector<int> degree(nodes_.size(), 0);
  for (const auto& e : all) ++degree[e.a], ++degree[e.b];
  std::vector<std::size_t> order(all.size());
  std::iota(order.begin(), order.end(), 0);
  shuffle(order, rng);
  int to_remove = static_cast<int>(std::lround(tc.t_intersection_fraction * static_cast<double>(all.size())));
  if (suburban) to_remove = std::max(to_remove, 0);
  auto connected_without = [&](std::size_t skip) {
    std::vector<std::vector<int>> adj(nodes_.size());
    for (std::size_t k = 0; k < all.size(); ++k)
      if (keep[k] && k != skip) adj[all[k].a].push_back(all[k].b), adj[all[k].b].push_back(all[k].a);
    std::vector<bool> seen(nodes_.size(), false);
    std::vector<int> stack{0};
    seen[0] = true;
    std::size_t n_seen = 1;
    while (!stack.empty()) {
      const int u = stack.back();
      stack.pop_back();
      for (int w : adj[u])
        if (!seen[w]) seen[w] = true, ++n_seen, stack.push_back(w);
    }
    return n_seen == nodes_.size();
  };
  for (std::size_t k : order) {
    if (to_remove <= 0) break;
    const auto& e = all[k];
    if (degree[e.a] <= 2 || degree[e.b] <= 2) continue;
    if (!connected_without(k)) continue;
    keep[k] = false;
    --degree[e.a];
    --degree[e.b];
    --to_remove;
  }
  for (std::size_t k = 0; k < all.size(); ++k) {
    if (keep[k]) {
      edges_.push_back(all[k]);
    } else {
      plazas_.push_back({all[k].a, all[k].b});
      plaza_half_width_.push_back(all[k].half_width_m());
    }
  }
  for (std::size_t k = 0; k < edges_.size(); ++k) {
    nodes_[edges_[k].a].edges.push_back(static_cast<int>(k));
    nodes_[edges_[k].b].edges.push_back(static_cast<int>(k));
  }
  // Intersection areas: the crossing of the carriageways.
  for (auto& n : nodes_) {
    double hx = 0, hy = 0;
    for (int k : n.edges) {
      const auto& e = edges_[k];
      const bool horizontal = std::abs(nodes_[e.a].p.y() - nodes_[e.b].p.y()) < 1e-6;
      if (horizontal) hy = std::max(hy, e.half_width_m());
      else hx = std::max(hx, e.half_width_m());
    }
    hx = std::max(hx, 1.0);
    hy = std::max(hy, 1.0);
    n.half_extent = {hx, hy};
    for (int k : n.edges) {
      const auto& e = edges_[k];
      const bool horizontal = std::abs(nodes_[e.a].p.y() - nodes_[e.b].p.y()) < 1e-6;
      n.clearance_m.push_back(horizontal ? hx : hy);
    }
  }
  bounds_ = {xs.front() - 40, ys.front() - 40, xs.back() + 40, ys.back() + 40};
  grid_xs_ = xs;
  grid_ys_ = ys;
}

void World::build_highway(Rng& rng) {
  const auto& tc = cfg_.town;
  const double L = tc.highway_length_m;
  const double a = deg_to_rad(tc.ramp_angle_deg);
  const int per_dir = tc.highway_lanes / 2;
  RoadNode w, m, e, r;
  w.p = {-0.5 * L, 0};
  m.p = {0, 0};
  e.p = {0.5 * L, 0};
  const double ramp_len = std::min(350.0, 0.45 * L);
  r.p = {-ramp_len * std::cos(a), -ramp_len * std::sin(a)};
  m.paved_square = false;
  w.paved_square = e.paved_square = r.paved_square = false;
  nodes_ = {w, m, e, r};
  RoadEdge hw;
  hw.lanes_fwd = hw.lanes_bwd = per_dir;
  hw.lane_width_m = tc.lane_width_m;
  hw.speed_mps = tc.highway_speed_limit_mps;
  hw.sidewalk_m = 0;
  hw.median_barrier = true;
  RoadEdge e0 = hw, e1 = hw;
  e0.a = 0, e0.b = 1;
  e1.a = 1, e1.b = 2;
  RoadEdge ramp;
  ramp.a = 3, ramp.b = 1;
  ramp.lanes_fwd = 1, ramp.lanes_bwd = 0;
  ramp.lane_width_m = tc.lane_width_m;
  ramp.speed_mps = std::min(tc.highway_speed_limit_mps, 0.75 * tc.highway_speed_limit_mps + rng.uniform(0, 1));
  ramp.sidewalk_m = 0;
  ramp.minor = true;
  edges_ = {e0, e1, ramp};
  nodes_[0].edges = {0};
  nodes_[1].edges = {0, 1, 2};
  nodes_[2].edges = {1};
  nodes_[3].edges = {2};
  // The ramp's lane must be clear of the outermost highway lane before the merge area starts.
  const double hw_half = hw.half_width_m();
  const double merge_clear = (hw_half + 0.5 * tc.lane_width_m + 1.5) / std::sin(a) + 5.0;
  nodes_[1].clearance_m = {merge_clear, merge_clear, merge_clear};
  nodes_[0].clearance_m = {0.0};
  nodes_[2].clearance_m = {0.0};
  nodes_[3].clearance_m = {0.0};
  nodes_[1].half_extent = {merge_clear, hw_half};
  bounds_ = {-0.5 * L - 20, r.p.y() - 80, 0.5 * L + 20, hw_half + 80};
}

void World::build_lanes_and_movements() {
  auto clearance = [&](int node, int edge) {
    const auto& n = nodes_[node];
    for (std::size_t k = 0; k < n.edges.size(); ++k)
      if (n.edges[k] == edge) return n.clearance_m[k];
    return 0.0;
  };
  for (std::size_t ei = 0; ei < edges_.size(); ++ei) {
    const auto& e = edges_[ei];
    const Eigen::Vector2d pa = nodes_[e.a].p, pb = nodes_[e.b].p;
    const Eigen::Vector2d u = (pb - pa).normalized(), n = perp_left(u);
    const double da = clearance(e.a, static_cast<int>(ei)), db = clearance(e.b, static_cast<int>(ei));
    const double c = e.centre_offset_m(), gap = e.median_gap_m();
    for (int k = 0; k < e.lanes_fwd; ++k) {
      const double lat = c - gap - (k + 0.5) * e.lane_width_m;
      Lane l;
      l.edge = static_cast<int>(ei);
      l.from_node = e.a;
      l.to_node = e.b;
      l.index = k;
      l.speed_mps = e.speed_mps;
      l.path = Polyline::line(pa + u * da + n * lat, pb - u * db + n * lat);
      lanes_.push_back(l);
    }
    for (int k = 0; k < e.lanes_bwd; ++k) {
      const double lat = c + gap + (k + 0.5) * e.lane_width_m;
      Lane l;
      l.edge = static_cast<int>(ei);
      l.from_node = e.b;
      l.to_node = e.a;
      l.index = k;
      l.speed_mps = e.speed_mps;
      l.path = Polyline::line(pb - u * db + n * lat, pa + u * da + n * lat);
      lanes_.push_back(l);
    }
  }
  auto lanes_in_dir = [&](const Lane& l) {
    const auto& e = edges_[l.edge];
    return l.from_node == e.a ? e.lanes_fwd : e.lanes_bwd;
  };
  auto heading_of = [](const Polyline& p) {
    const Eigen::Vector2d d = p.pts.back() - p.pts.front();
    return std::atan2(d.y(), d.x());
  };
  for (std::size_t ni = 0; ni < nodes_.size(); ++ni) {
    std::vector<int> in, out;
    for (std::size_t li = 0; li < lanes_.size(); ++li) {
      if (lanes_[li].to_node == static_cast<int>(ni)) in.push_back(static_cast<int>(li));
      if (lanes_[li].from_node == static_cast<int>(ni)) out.push_back(static_cast<int>(li));
    }
    const int first_movement = static_cast<int>(movements_.size());
    for (int li : in) {
      const Lane& L = lanes_[li];
      const int f_in = lanes_in_dir(L);
      // Candidate exit edges (no U-turns, no near-reversals).
      std::vector<int> exit_edges;
      for (int lo : out) {
        const Lane& O = lanes_[lo];
        if (O.edge == L.edge) continue;
        const double d = wrap_angle(heading_of(O.path) - heading_of(L.path));
        if (std::abs(d) > deg_to_rad(150)) continue;
        if (std::find(exit_edges.begin(), exit_edges.end(), O.edge) == exit_edges.end()) exit_edges.push_back(O.edge);
      }
      for (int lo : out) {
        const Lane& O = lanes_[lo];
        if (std::find(exit_edges.begin(), exit_edges.end(), O.edge) == exit_edges.end()) continue;
        const int f_out = lanes_in_dir(O);
        const double d = wrap_angle(heading_of(O.path) - heading_of(L.path));
        bool ok;
        if (edges_[L.edge].minor) ok = O.index == f_out - 1;                          // ramp → outermost
        else if (exit_edges.size() == 1 || std::abs(d) < deg_to_rad(30)) ok = O.index == std::min(L.index, f_out - 1);
        else if (d > 0) ok = L.index == 0 && O.index == 0;                           // left: innermost
        else ok = L.index == f_in - 1 && O.index == f_out - 1;                       // right: outermost
        if (!ok) continue;
        Movement m;
        m.node = static_cast<int>(ni);
        m.in_lane = li;
        m.out_lane = lo;
        const Eigen::Vector2d p0 = L.path.pts.back(), p3 = O.path.pts.front();
        const Eigen::Vector2d d0 = (L.path.pts.back() - L.path.pts.front()).normalized();
        const Eigen::Vector2d d3 = (O.path.pts.back() - O.path.pts.front()).normalized();
        m.path = Polyline::bezier(p0, d0, p3, d3);
        m.minor = edges_[L.edge].minor;
        // Curvature-limited speed (lateral acceleration ≤ 2.5 m/s²).
        double kmax = 0;
        for (std::size_t i = 1; i + 1 < m.path.pts.size(); ++i) {
          const Eigen::Vector2d a = m.path.pts[i] - m.path.pts[i - 1], b = m.path.pts[i + 1] - m.path.pts[i];
          const double ang = std::abs(wrap_angle(std::atan2(b.y(), b.x()) - std::atan2(a.y(), a.x())));
          const double ds = 0.5 * (a.norm() + b.norm());
          if (ds > 1e-6) kmax = std::max(kmax, ang / ds);
        }
        m.speed_mps = std::min(std::min(L.speed_mps, O.speed_mps), kmax > 1e-6 ? std::sqrt(2.5 / kmax) : 1e9);
        m.speed_mps = std::max(m.speed_mps, 2.5);
        lanes_[li].movements.push_back(static_cast<int>(movements_.size()));
        movements_.push_back(std::move(m));
      }
    }
    // Conflicts: sweep a 12.5 × 2.7 m box (the largest vehicle) along each movement, extended 6.5 m into the
    // in-lane and out-lane (a vehicle occupies the intersection while any part of it is inside).
    const int last_movement = static_cast<int>(movements_.size());
    std::vector<std::vector<Obb2>> swept(last_movement - first_movement);
    for (int mi = first_movement; mi < last_movement; ++mi) {
      const auto& m = movements_[mi];
      const Eigen::Vector2d d0 = (lanes_[m.in_lane].path.pts.back() - lanes_[m.in_lane].path.pts.front()).normalized();
      const Eigen::Vector2d d3 = (lanes_[m.out_lane].path.pts.back() - lanes_[m.out_lane].path.pts.front()).normalized();
      auto& sw = swept[mi - first_movement];
      for (double s = -6.5; s <= m.path.length() + 6.5; s += 1.0) {
        Eigen::Vector2d p;
        double h;
        if (s < 0) p = m.path.pts.front() + s * d0, h = std::atan2(d0.y(), d0.x());
        else if (s > m.path.length()) p = m.path.pts.back() + (s - m.path.length()) * d3, h = std::atan2(d3.y(), d3.x());
        else m.path.sample(s, p, h);
        sw.push_back({p, Eigen::Vector2d(std::cos(h), std::sin(h)), 6.25, 1.35});
      }
    }
    for (int i = first_movement; i < last_movement; ++i)
      for (int j = i + 1; j < last_movement; ++j) {
        bool hit = false;
        for (const auto& a : swept[i - first_movement]) {
          for (const auto& b : swept[j - first_movement])
            if ((a.c - b.c).squaredNorm() < 14.0 * 14.0 && obb_overlap(a, b)) {
              hit = true;
              break;
            }
          if (hit) break;
        }
        if (hit) {
          movements_[i].conflicts.push_back(j);
          movements_[j].conflicts.push_back(i);
        }
      }
  }
  for (std::size_t li = 0; li < lanes_.size(); ++li)
    if (lanes_[li].from_node >= 0 && nodes_[lanes_[li].from_node].edges.size() == 1)
      source_lanes_.push_back(static_cast<int>(li));
}

}  // namespace v2x::sim
