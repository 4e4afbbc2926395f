#pragma once
// PointPillars pillarization in plain C++ (no LibTorch): points → up to max_pillars pillars of up to
// max_points_per_pillar points, each kept point described by kPointFeatures features.
//
// Layout: points are kept as a flat list with the flat cell index of their pillar (not padded to
// (P, N, F) as in the original PointPillars): the pillar feature net is a per-point MLP followed by a max over
// each pillar's points, which the network does with a scatter-max straight into the BEV canvas. That is the
// same function as the padded form, without computing N - count empty slots per pillar (most pillars hold
// only a few points), which matters on a 2-core CPU.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "v2x/core/point_cloud.hpp"
#include "v2x/encoder/config.hpp"

namespace v2x::encoder {

// Per-point features: x, y, z, intensity, offsets (x, y, z) to the mean of the pillar's points,
// offsets (x, y, z) to the pillar's geometric centre (z centre = middle of [z_min, z_max)).
inline constexpr int kPointFeatures = 10;

struct Pillars {
  int grid_w = 0, grid_h = 0;            // pillar grid (W along x, H along y)
  int num_pillars = 0;                   // occupied pillars P
  std::vector<float> features;           // (M, kPointFeatures) float32, M kept points, grouped by pillar
  std::vector<std::int32_t> point_cell;  // (M) flat cell index iy * W + ix of each kept point's pillar
  std::vector<std::int32_t> cells;       // (P) flat cell index of each pillar, in creation order
  std::vector<std::int32_t> counts;      // (P) kept points per pillar, 1..max_points_per_pillar
  std::size_t points_dropped = 0;        // finite points in range lost to the max_pillars / max_points limits
  std::size_t points_invalid = 0;        // non-finite points

  std::size_t num_points() const { return point_cell.size(); }
};

class Pillarizer {
 public:
  explicit Pillarizer(const PillarConfig& cfg);
  // Deterministic: points are taken in cloud order; a pillar is created by its first point.
  Pillars run(const PointCloud& cloud) const;
  const PillarConfig& config() const { return cfg_; }
  int grid_w() const { return w_; }
  int grid_h() const { return h_; }

 private:
  PillarConfig cfg_;
  int w_, h_;
};

}  // namespace v2x::encoder
