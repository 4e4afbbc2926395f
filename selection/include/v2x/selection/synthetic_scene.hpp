#pragma once
// Synthetic BEV feature maps with known dynamics, for selection tests and the bytes-per-message table until
// simulator frames and the trained encoder exist. NOT learned features: a world of Gaussian blobs — static
// structures (low confidence) and cars (high confidence) that may move — sampled in the LiDAR frame of an ego
// that drives along +x, with ReLU-like non-negative channel vectors and seeded per-frame sensor noise on
// non-empty cells. Cells farther than 2.5 radii from every blob are exactly zero (empty pillars).
#include <cstdint>
#include <vector>

#include "v2x/core/feature_map.hpp"
#include "v2x/core/pose.hpp"

namespace v2x::selection {

struct SyntheticSceneConfig {
  BevGrid grid{-51.2, 51.2, -51.2, 51.2, 0.8};  // 128 × 128
  int channels = 32;
  int num_static = 40;          // buildings, poles, road edges
  int num_cars = 20;
  double car_speed_mps = 0.0;   // 0: a static scene (parked cars)
  double ego_speed_mps = 5.0;
  double frame_dt_s = 0.1;
  double noise = 0.01;          // feature noise std (blob amplitudes are ~1)
  std::uint64_t seed = 1;
};

class SyntheticScene {
 public:
  explicit SyntheticScene(SyntheticSceneConfig cfg);
  // Frame k: the map (agent 1, stamp k·dt) and the ego's pose.
  FeatureMap frame(int k, Pose* T_world_lidar) const;

 private:
  struct Blob {
    double x_m, y_m, radius_m, heading_rad, speed_mps, confidence;
    std::vector<float> feature;  // (C,)
  };
  SyntheticSceneConfig cfg_;
  std::vector<Blob> blobs_;
};

}  // namespace v2x::selection
