#pragma once
// SE(3) poses. Naming: T_to_from maps coordinates of frame `from` into frame `to`
// (T_world_lidar * p_lidar = p_world). Right-handed, metres, radians unless the name says deg.
#include <array>
#include <Eigen/Geometry>

namespace v2x {

using Pose = Eigen::Isometry3d;

// CARLA / OPV2V pose `[x, y, z, roll, yaw, pitch]`, angles in degrees, as OpenCOOD's x_to_world():
// R = Rz(yaw) * Ry(pitch) * Rx(roll) with CARLA's sign convention reproduced exactly
// (see docs/datasets.md for the element-wise formula and its source).
Pose pose_from_carla(const std::array<double, 6>& x_y_z_roll_yaw_pitch_deg);
std::array<double, 6> pose_to_carla(const Pose& T);  // inverse of pose_from_carla

// DAIR-V2X calibration: row-major 3×3 rotation + translation (p_to = R p_from + t).
Pose pose_from_rotation_translation(const Eigen::Matrix3d& R, const Eigen::Vector3d& t);

// Yaw (rotation about +z) of the pose's x axis, radians in (-pi, pi].
double yaw_of(const Pose& T);
// Planar pose: translation (x, y, z) and yaw only.
Pose planar_pose(double x_m, double y_m, double z_m, double yaw_rad);

// Wraps an angle into (-pi, pi].
double wrap_angle(double a_rad);
constexpr double deg_to_rad(double d) { return d * 0.017453292519943295; }
constexpr double rad_to_deg(double r) { return r * 57.29577951308232; }

}  // namespace v2x
