#pragma once
// 3D boxes and exact rotated bird's-eye-view IoU.
#include <array>
#include <Eigen/Core>
#include "v2x/core/pose.hpp"
#include "v2x/core/types.hpp"

namespace v2x {

// Centre (geometric centre, not bottom), full sizes, yaw about +z. x-axis of the box = length direction.
struct Box3D {
  Eigen::Vector3d center{0, 0, 0};
  double l_m = 0, w_m = 0, h_m = 0;
  double yaw_rad = 0;

  // 8 corners: bottom face 0..3 counter-clockwise starting at (+l/2, +w/2), then top face 4..7.
  std::array<Eigen::Vector3d, 8> corners() const;
  // 4 BEV corners counter-clockwise (x, y).
  std::array<Eigen::Vector2d, 4> bev_corners() const;
  // The box expressed in another frame: T_to_from applied to a box given in `from`.
  // Yaw changes by the rotation's yaw; roll/pitch of T are ignored for the box's orientation.
  Box3D transformed(const Pose& T_to_from) const;
  bool contains(const Eigen::Vector3d& p) const;  // point inside (boundary inclusive)
  double bev_area() const { return l_m * w_m; }
};

// Exact intersection-over-union of the two boxes' BEV rectangles (polygon clipping with Boost.Geometry).
double bev_iou(const Box3D& a, const Box3D& b);
// Exact 3D IoU: BEV intersection area × z-overlap.
double iou_3d(const Box3D& a, const Box3D& b);

// A ground-truth object.
struct Object3D {
  Box3D box;
  ObjectClass cls = ObjectClass::Car;
  std::int64_t id = -1;       // dataset/simulator object id, -1 if none
  int lidar_points = -1;      // LiDAR returns inside the box for the observing agent, -1 if unknown
};

}  // namespace v2x
