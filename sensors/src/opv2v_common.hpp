#pragma once
// Conventions shared by the OPV2V reader and writer.
#include <Eigen/Core>

#include "v2x/core/pose.hpp"

namespace v2x::sensors::detail {

// Camera axes. OPV2V's `cords`/`extrinsic` describe the CARLA camera actor (x forward, y right, z up in CARLA's
// left-handed world). Like OpenCOOD we take CARLA's numbers as they are and treat them as right-handed
// (the world is mirrored in y); in that world the actor's axes are x forward, y left, z up, and the OpenCV
// camera (x right, y down, z forward) is R_actor_cv below (a proper rotation). Because the world is mirrored,
// images stored by CARLA are mirrored too: the reader flips them horizontally (cx → W - cx) and the writer flips
// them back, so that projecting with T_lidar_camera and K matches the pixels in memory.
inline Eigen::Matrix3d R_actor_cv() {
  Eigen::Matrix3d R;
  // columns: OpenCV x (right) = actor -y, OpenCV y (down) = actor -z, OpenCV z (forward) = actor +x
  R << 0, 0, 1,
      -1, 0, 0,
       0, -1, 0;
  return R;
}

inline Pose rotation_only(const Eigen::Matrix3d& R) {
  Pose T = Pose::Identity();
  T.linear() = R;
  return T;
}

}  // namespace v2x::sensors::detail
