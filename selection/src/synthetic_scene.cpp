#include "v2x/selection/synthetic_scene.hpp"

#include <algorithm>
#include <cmath>

#include "v2x/core/rng.hpp"

namespace v2x::selection {

SyntheticScene::SyntheticScene(SyntheticSceneConfig cfg) : cfg_(std::move(cfg)) {
  Rng rng(cfg_.seed);
  const auto make = [&](bool car) {
    Blob b;
    b.x_m = rng.uniform(cfg_.grid.x_min_m, cfg_.grid.x_max_m + 30.0);  // the ego drives +x: some ahead
    b.y_m = rng.uniform(cfg_.grid.y_min_m, cfg_.grid.y_max_m);
    b.radius_m = car ? rng.uniform(1.0, 1.6) : rng.uniform(1.0, 2.5);
    b.heading_rad = rng.uniform(-3.14159, 3.14159);
    b.speed_mps = car ? cfg_.car_speed_mps : 0.0;
    b.confidence = car ? rng.uniform(0.7, 0.95) : rng.uniform(0.02, 0.15);
    b.feature.resize(static_cast<std::size_t>(cfg_.channels));
    for (auto& v : b.feature) v = static_cast<float>(std::max(0.0, rng.normal(0.3, car ? 1.0 : 0.6)));
    blobs_.push_back(std::move(b));
  };
  for (int i = 0; i < cfg_.num_static; ++i) make(false);
  for (int i = 0; i < cfg_.num_cars; ++i) make(true);
}

FeatureMap SyntheticScene::frame(int k, Pose* T_world_lidar) const {
  const BevGrid& g = cfg_.grid;
  const int W = g.width(), H = g.height(), C = cfg_.channels;
  FeatureMap m(C, H, W);
  m.grid = g;
  m.agent = 1;
  m.stamp_ns = s_to_ns(k * cfg_.frame_dt_s);
  m.confidence.assign(m.cells(), 0.f);
  const double t = k * cfg_.frame_dt_s;
  const Pose T = planar_pose(cfg_.ego_speed_mps * t, 0.0, 0.0, 0.0);
  if (T_world_lidar) *T_world_lidar = T;
  const Pose T_lidar_world = T.inverse();
  const std::size_t HW = m.cells();
  for (const Blob& b : blobs_) {
    const Eigen::Vector3d cw(b.x_m + b.speed_mps * t * std::cos(b.heading_rad),
                             b.y_m + b.speed_mps * t * std::sin(b.heading_rad), 0.0);
    const Eigen::Vector3d cl = T_lidar_world * cw;
    const double reach = 2.5 * b.radius_m;
    const int x0 = std::max(0, static_cast<int>(std::floor((cl.x() - reach - g.x_min_m) / g.cell_m)));
    const int x1 = std::min(W - 1, static_cast<int>(std::floor((cl.x() + reach - g.x_min_m) / g.cell_m)));
    const int y0 = std::max(0, static_cast<int>(std::floor((cl.y() - reach - g.y_min_m) / g.cell_m)));
    const int y1 = std::min(H - 1, static_cast<int>(std::floor((cl.y() + reach - g.y_min_m) / g.cell_m)));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        const double dx = g.cell_center_x(x) - cl.x(), dy = g.cell_center_y(y) - cl.y();
        const double d2 = dx * dx + dy * dy;
        if (d2 > reach * reach) continue;
        const double wgt = std::exp(-d2 / (2 * b.radius_m * b.radius_m));
        const std::size_t i = static_cast<std::size_t>(y) * W + x;
        for (int c = 0; c < C; ++c) m.data[static_cast<std::size_t>(c) * HW + i] += static_cast<float>(wgt * b.feature[static_cast<std::size_t>(c)]);
        // Detection heatmaps are tighter than features (CenterPoint-style Gaussians): σ_conf = 0.6 radius.
        const double wc = std::exp(-d2 / (2 * 0.36 * b.radius_m * b.radius_m));
        m.confidence[i] = std::max(m.confidence[i], static_cast<float>(wc * b.confidence));
      }
  }
  Rng rng = Rng(cfg_.seed).fork(0x5EED0000ull + static_cast<std::uint64_t>(k));
  if (cfg_.noise > 0)
    for (std::size_t i = 0; i < HW; ++i) {
      bool nonempty = false;
      for (int c = 0; c < C && !nonempty; ++c) nonempty = m.data[static_cast<std::size_t>(c) * HW + i] > 0.f;
      if (!nonempty) continue;
      for (int c = 0; c < C; ++c) {
        float& v = m.data[static_cast<std::size_t>(c) * HW + i];
        v = std::max(0.f, v + static_cast<float>(rng.normal(0.0, cfg_.noise)));
      }
    }
  return m;
}

}  // namespace v2x::selection
