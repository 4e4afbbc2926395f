#include "v2x/encoder/pillarizer.hpp"

#include <cmath>
#include <stdexcept>

namespace v2x::encoder {

Pillarizer::Pillarizer(const PillarConfig& cfg) : cfg_(cfg) {
  const BevGrid g = cfg.grid();
  w_ = g.width();
  h_ = g.height();
  if (w_ <= 0 || h_ <= 0 || cfg.z_max_m <= cfg.z_min_m || cfg.max_points_per_pillar < 1 || cfg.max_pillars < 1)
    throw std::invalid_argument("Pillarizer: empty pillar grid or limits " + g.describe());
}

Pillars Pillarizer::run(const PointCloud& cloud) const {
  const int N = cfg_.max_points_per_pillar;
  Pillars out;
  out.grid_w = w_;
  out.grid_h = h_;
  const std::size_t n = cloud.size();
  const bool has_i = cloud.intensity.size() == n;
  const float x0 = static_cast<float>(cfg_.x_min_m), y0 = static_cast<float>(cfg_.y_min_m);
  const float inv = static_cast<float>(1.0 / cfg_.pillar_m);
  const float z0 = static_cast<float>(cfg_.z_min_m), z1 = static_cast<float>(cfg_.z_max_m);

  // Pass 1: pillar of every point (or -1). A dense cell → pillar map: faster than hashing at these grid sizes.
  std::vector<std::int32_t> pillar_of(static_cast<std::size_t>(w_) * h_, -1);
  std::vector<std::int32_t> pillar_of_point(n, -1);
  for (std::size_t k = 0; k < n; ++k) {
    const float x = cloud.x[k], y = cloud.y[k], z = cloud.z[k];
    if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(z)) {
      ++out.points_invalid;
      continue;
    }
    if (z < z0 || z >= z1) continue;
    const float fx = (x - x0) * inv, fy = (y - y0) * inv;
    if (!(fx >= 0.f) || !(fy >= 0.f)) continue;
    const int ix = static_cast<int>(fx), iy = static_cast<int>(fy);
    if (ix >= w_ || iy >= h_) continue;
    const std::size_t cell = static_cast<std::size_t>(iy) * w_ + ix;
    std::int32_t p = pillar_of[cell];
    if (p < 0) {
      if (out.num_pillars >= cfg_.max_pillars) {
        ++out.points_dropped;
        continue;
      }
      p = out.num_pillars++;
      pillar_of[cell] = p;
      out.cells.push_back(static_cast<std::int32_t>(cell));
      out.counts.push_back(0);
    }
    if (out.counts[p] >= N) {
      ++out.points_dropped;
      continue;
    }
    ++out.counts[p];
    pillar_of_point[k] = p;
  }

  // Pass 2: pillar means, then features grouped by pillar (offsets into the output per pillar).
  const int P = out.num_pillars;
  std::vector<double> sum(static_cast<std::size_t>(P) * 3, 0.0);
  std::vector<std::size_t> start(static_cast<std::size_t>(P) + 1, 0);
  for (int p = 0; p < P; ++p) start[p + 1] = start[p] + out.counts[p];
  for (std::size_t k = 0; k < n; ++k) {
    const std::int32_t p = pillar_of_point[k];
    if (p < 0) continue;
    sum[3 * p] += cloud.x[k];
    sum[3 * p + 1] += cloud.y[k];
    sum[3 * p + 2] += cloud.z[k];
  }
  const std::size_t M = start[P];
  const int F = kPointFeatures;
  out.features.resize(M * F);
  out.point_cell.resize(M);
  std::vector<std::size_t> fill(start.begin(), start.end() - 1);
  const float zc = 0.5f * (z0 + z1);
  for (std::size_t k = 0; k < n; ++k) {
    const std::int32_t p = pillar_of_point[k];
    if (p < 0) continue;
    const std::size_t j = fill[p]++;
    const float c = static_cast<float>(out.counts[p]);
    const float x = cloud.x[k], y = cloud.y[k], z = cloud.z[k];
    float i = has_i ? cloud.intensity[k] : 0.f;
    if (!std::isfinite(i)) i = 0.f;
    const int cell = out.cells[p];
    const int ix = cell % w_, iy = cell / w_;
    float* o = &out.features[j * F];
    o[0] = x;
    o[1] = y;
    o[2] = z;
    o[3] = i;
    o[4] = x - static_cast<float>(sum[3 * p] / c);
    o[5] = y - static_cast<float>(sum[3 * p + 1] / c);
    o[6] = z - static_cast<float>(sum[3 * p + 2] / c);
    o[7] = x - static_cast<float>(cfg_.x_min_m + (ix + 0.5) * cfg_.pillar_m);
    o[8] = y - static_cast<float>(cfg_.y_min_m + (iy + 0.5) * cfg_.pillar_m);
    o[9] = z - zc;
    out.point_cell[j] = cell;
  }
  return out;
}

}  // namespace v2x::encoder
