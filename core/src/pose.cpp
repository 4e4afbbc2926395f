#include "v2x/core/pose.hpp"

#include <cmath>

namespace v2x {

// OpenCOOD x_to_world(): CARLA's (left-handed, UE4) rotation matrix applied as-is, which equals
// Rz(yaw) * Ry(-pitch) * Rx(-roll) in right-handed terms. Element-wise formula documented in docs/datasets.md.
Pose pose_from_carla(const std::array<double, 6>& p) {
  const double x = p[0], y = p[1], z = p[2];
  const double roll = deg_to_rad(p[3]), yaw = deg_to_rad(p[4]), pitch = deg_to_rad(p[5]);
  const double cy = std::cos(yaw), sy = std::sin(yaw);
  const double cr = std::cos(roll), sr = std::sin(roll);
  const double cp = std::cos(pitch), sp = std::sin(pitch);
  Eigen::Matrix4d m = Eigen::Matrix4d::Identity();
  m(0, 0) = cp * cy;
  m(0, 1) = cy * sp * sr - sy * cr;
  m(0, 2) = -cy * sp * cr - sy * sr;
  m(1, 0) = sy * cp;
  m(1, 1) = sy * sp * sr + cy * cr;
  m(1, 2) = -sy * sp * cr + cy * sr;
  m(2, 0) = sp;
  m(2, 1) = -cp * sr;
  m(2, 2) = cp * cr;
  m(0, 3) = x;
  m(1, 3) = y;
  m(2, 3) = z;
  Pose T;
  T.matrix() = m;
  return T;
}

std::array<double, 6> pose_to_carla(const Pose& T) {
  const Eigen::Matrix3d R = T.linear();
  // R(2,0) = sin(pitch); R(2,1) = -cos(pitch) sin(roll); R(2,2) = cos(pitch) cos(roll);
  // R(0,0) = cos(pitch) cos(yaw); R(1,0) = cos(pitch) sin(yaw). Valid for |pitch| < 90°.
  const double pitch = std::asin(std::clamp(R(2, 0), -1.0, 1.0));
  const double roll = std::atan2(-R(2, 1), R(2, 2));
  const double yaw = std::atan2(R(1, 0), R(0, 0));
  return {T.translation().x(), T.translation().y(), T.translation().z(),
          rad_to_deg(roll), rad_to_deg(yaw), rad_to_deg(pitch)};
}

Pose pose_from_rotation_translation(const Eigen::Matrix3d& R, const Eigen::Vector3d& t) {
  Pose T = Pose::Identity();
  T.linear() = R;
  T.translation() = t;
  return T;
}

double wrap_angle(double a) {
  a = std::remainder(a, 2.0 * M_PI);  // [-pi, pi]
  if (a <= -M_PI) a += 2.0 * M_PI;
  return a;
}

double yaw_of(const Pose& T) {
  const Eigen::Vector3d xa = T.linear().col(0);
  return std::atan2(xa.y(), xa.x());
}

Pose planar_pose(double x_m, double y_m, double z_m, double yaw_rad) {
  Pose T = Pose::Identity();
  T.linear() = Eigen::AngleAxisd(yaw_rad, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  T.translation() = Eigen::Vector3d(x_m, y_m, z_m);
  return T;
}

}  // namespace v2x
