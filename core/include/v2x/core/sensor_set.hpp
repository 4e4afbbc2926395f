#pragma once
// Which sensors an agent uses: the simulator's per-agent rig (agents.sensors), a node's `sensors` and a replay's
// per-agent `sensors` list (heterogeneous fleets: LiDAR+camera, camera-only, LiDAR-only agents in one scenario).
#include <array>
#include <string_view>

#include "v2x/core/config.hpp"

namespace v2x {

//  auto          whatever the agent's frame has (a non-empty cloud → LiDAR; images → cameras, when a camera model
//                is configured); in the simulator: LiDAR, plus cameras when agents.cameras.enabled
//  lidar         LiDAR only (images ignored / not rendered)
//  camera        cameras only (the cloud ignored / no LiDAR scanned)
//  lidar+camera  both
//  none          replay only: the agent does not take part (it neither senses nor sends)
enum class SensorSet { Auto = 0, Lidar, Camera, LidarCamera, None };

inline bool uses_lidar(SensorSet s) { return s == SensorSet::Auto || s == SensorSet::Lidar || s == SensorSet::LidarCamera; }
inline bool uses_cameras(SensorSet s) { return s == SensorSet::Camera || s == SensorSet::LidarCamera; }

}  // namespace v2x

template <>
struct v2x::EnumNames<v2x::SensorSet> {
  static constexpr std::array<std::string_view, 5> names{"auto", "lidar", "camera", "lidar+camera", "none"};
};
