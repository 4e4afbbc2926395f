#pragma once
// GeometricPerception: a non-learned Perception for live fleets on small machines and fast tests
// (perception: geometric). Points between ground_z + min_height and ground_z + max_height (sensor frame) are
// binned into a BEV occupancy grid; 8-connected components (OpenCV) with enough points become boxes: the
// minimum-area rectangle of the component's cells (cv::minAreaRect), height from the points' z extent, score
// = 1 − exp(−points / 30). Components outside vehicle size limits are ignored. Feature map: 2 channels on the
// same grid — occupancy log-count and max height above ground — confidence = min(1, points / 10).
// LiDAR only: an agent configured without LiDAR gets an empty map (modality 0).
// It is a real detector (no access to ground truth), far weaker than the learned one: docs/nodes.md.
#include "v2x/apps/live_node_config.hpp"
#include "v2x/apps/node_runtime.hpp"

namespace v2x::live {

class GeometricPerception final : public apps::Perception {
 public:
  explicit GeometricPerception(apps::GeometricPerceptionConfig cfg);
  apps::LocalPerception perceive(const AgentFrame& frame, AgentId agent, SensorSet sensors) override;
  BevGrid feature_grid() const override { return grid_; }
  int channels() const override { return 2; }

 private:
  apps::GeometricPerceptionConfig cfg_;
  BevGrid grid_;
};

}  // namespace v2x::live
