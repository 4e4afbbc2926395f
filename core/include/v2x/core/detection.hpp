#pragma once
#include <vector>
#include "v2x/core/box.hpp"
#include "v2x/core/types.hpp"

namespace v2x {

struct Detection {
  Box3D box;
  float score = 0.f;
  ObjectClass cls = ObjectClass::Car;
};

// Detections of one agent at one time, in that agent's LiDAR frame unless stated.
struct DetectionList {
  AgentId agent = 0;
  TimestampNs stamp_ns = 0;
  std::vector<Detection> detections;
};

}  // namespace v2x
