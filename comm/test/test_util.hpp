#pragma once
// Synthetic, realistic-looking sparse features for the comm tests: ReLU-like (about half exact zeros, the
// rest exponential) with channel scales spread over two orders of magnitude, as BEV backbones produce.
#include <algorithm>
#include <cmath>
#include <set>

#include "v2x/core/pose.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/core/sparse_features.hpp"

namespace v2x::comm::test {

inline SparseFeatures make_features(std::uint64_t seed, std::size_t num_cells, int channels,
                                    Quantization q = Quantization::Int8, std::size_t num_anchors = 0,
                                    int anchor_dim = 0) {
  Rng rng(seed);
  SparseFeatures f;
  f.sender = 42;
  f.stamp_ns = 1'234'567'890'123;
  f.sequence = 77;
  f.T_world_lidar = planar_pose(120.5, -33.25, 1.8, 0.7);
  f.grid = BevGrid{-51.2, 51.2, -51.2, 51.2, 0.8};  // 128 x 128
  f.channels = channels;
  f.quant = q;
  const std::uint32_t grid_cells = static_cast<std::uint32_t>(f.grid.num_cells());
  std::set<std::uint32_t> cells;
  while (cells.size() < std::min<std::size_t>(num_cells, grid_cells))
    cells.insert(static_cast<std::uint32_t>(rng.next_u64() % grid_cells));
  f.cell_indices.assign(cells.begin(), cells.end());
  std::vector<double> scale(static_cast<std::size_t>(channels));
  for (auto& s : scale) s = std::exp(rng.uniform(std::log(0.05), std::log(5.0)));
  f.values.resize(f.cell_indices.size() * static_cast<std::size_t>(channels));
  for (std::size_t i = 0; i < f.values.size(); ++i) {
    const double z = rng.normal();
    f.values[i] = z <= 0 ? 0.f : static_cast<float>(scale[i % static_cast<std::size_t>(channels)] * z);
  }
  for (std::size_t a = 0; a < num_anchors; ++a) {
    SparseAnchor an;
    an.box.center = Eigen::Vector3d(rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-2, 1));
    an.box.l_m = 4.5, an.box.w_m = 1.9, an.box.h_m = 1.6, an.box.yaw_rad = rng.uniform(-3, 3);
    an.score = static_cast<float>(rng.uniform());
    for (int d = 0; d < anchor_dim; ++d) an.feature.push_back(std::max(0.f, static_cast<float>(rng.normal())));
    f.anchors.push_back(an);
  }
  return f;
}

}  // namespace v2x::comm::test
