#pragma once
// Small configurations and synthetic scenes for the encoder tests.
#include <cmath>

#include "v2x/core/rng.hpp"
#include "v2x/encoder/config.hpp"
#include "v2x/encoder/training.hpp"

namespace v2x::encoder::testing {

// 64 × 32 pillars of 0.4 m, a tiny network: fast on a CPU.
inline DetectorConfig tiny_config() {
  DetectorConfig c;
  c.pillars.x_min_m = -12.8, c.pillars.x_max_m = 12.8;
  c.pillars.y_min_m = -6.4, c.pillars.y_max_m = 6.4;
  c.net.pfn_channels = 16;
  c.net.block_channels = {16, 16, 32};
  c.net.block_layers = {1, 1, 1};
  c.net.up_channels = 16;
  c.net.out_channels = 16;
  return c;
}

// Ground points plus points on the surfaces of `boxes` (in the LiDAR frame, ground at z = -1.9).
inline RawSample synthetic_scene(const std::vector<Box3D>& boxes, std::uint64_t seed) {
  RawSample s;
  s.boxes = boxes;
  Rng r(seed);
  for (int i = 0; i < 1500; ++i)
    s.cloud.push_back(static_cast<float>(r.uniform(-12.8, 12.8)), static_cast<float>(r.uniform(-6.4, 6.4)),
                      static_cast<float>(-1.9 + r.normal(0, 0.02)), 0.2f);
  for (const Box3D& b : boxes) {
    for (int i = 0; i < 300; ++i) {
      Eigen::Vector3d local(r.uniform(-0.5, 0.5) * b.l_m, r.uniform(-0.5, 0.5) * b.w_m, r.uniform(-0.5, 0.5) * b.h_m);
      const int face = r.uniform_int(0, 2);
      if (face == 0) local.x() = (r.bernoulli(0.5) ? 0.5 : -0.5) * b.l_m;
      if (face == 1) local.y() = (r.bernoulli(0.5) ? 0.5 : -0.5) * b.w_m;
      if (face == 2) local.z() = 0.5 * b.h_m;
      const Eigen::Vector3d p = b.center + Eigen::AngleAxisd(b.yaw_rad, Eigen::Vector3d::UnitZ()) * local;
      s.cloud.push_back(static_cast<float>(p.x()), static_cast<float>(p.y()), static_cast<float>(p.z()), 0.6f);
    }
    s.box_points.push_back(300);
  }
  return s;
}

inline Box3D car(double x, double y, double yaw) {
  Box3D b;
  b.center = {x, y, -1.1};
  b.l_m = 4.5, b.w_m = 1.9, b.h_m = 1.6, b.yaw_rad = yaw;
  return b;
}

}  // namespace v2x::encoder::testing
