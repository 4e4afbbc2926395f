#include "v2x/core/box.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

// Boost.Geometry computes the exact intersection polygon of two convex quadrilaterals; we use it rather
// than a hand-written Sutherland–Hodgman clip as the architecture asks for a well-kept library here.
// Boost 1.74 rescales coordinates to integers for robustness by default, which costs ~1e-8 of accuracy;
// we switch that off (floating-point predicates are robust enough for convex quadrilaterals).
#define BOOST_GEOMETRY_NO_ROBUSTNESS
#include <boost/geometry.hpp>
#include <boost/geometry/geometries/point_xy.hpp>
#include <boost/geometry/geometries/polygon.hpp>

namespace v2x {
namespace bg = boost::geometry;
using BgPoint = bg::model::d2::point_xy<double>;
using BgPolygon = bg::model::polygon<BgPoint, /*clockwise=*/false, /*closed=*/true>;

std::array<Eigen::Vector2d, 4> Box3D::bev_corners() const {
  const double c = std::cos(yaw_rad), s = std::sin(yaw_rad);
  const double hl = 0.5 * l_m, hw = 0.5 * w_m;
  const double dx[4] = {hl, -hl, -hl, hl};
  const double dy[4] = {hw, hw, -hw, -hw};
  std::array<Eigen::Vector2d, 4> out;
  for (int i = 0; i < 4; ++i) out[i] = {center.x() + c * dx[i] - s * dy[i], center.y() + s * dx[i] + c * dy[i]};
  return out;
}

std::array<Eigen::Vector3d, 8> Box3D::corners() const {
  const auto bev = bev_corners();
  std::array<Eigen::Vector3d, 8> out;
  for (int i = 0; i < 4; ++i) {
    out[i] = {bev[i].x(), bev[i].y(), center.z() - 0.5 * h_m};
    out[i + 4] = {bev[i].x(), bev[i].y(), center.z() + 0.5 * h_m};
  }
  return out;
}

Box3D Box3D::transformed(const Pose& T) const {
  Box3D b = *this;
  b.center = T * center;
  b.yaw_rad = wrap_angle(yaw_rad + yaw_of(T));
  return b;
}

bool Box3D::contains(const Eigen::Vector3d& p) const {
  const Eigen::Vector3d d = p - center;
  const double c = std::cos(yaw_rad), s = std::sin(yaw_rad);
  const double lx = c * d.x() + s * d.y();
  const double ly = -s * d.x() + c * d.y();
  return std::abs(lx) <= 0.5 * l_m && std::abs(ly) <= 0.5 * w_m && std::abs(d.z()) <= 0.5 * h_m;
}

namespace {
BgPolygon to_polygon(const Box3D& b) {
  const auto c = b.bev_corners();  // counter-clockwise
  BgPolygon poly;
  for (int i = 0; i < 4; ++i) bg::append(poly.outer(), BgPoint(c[i].x(), c[i].y()));
  bg::append(poly.outer(), BgPoint(c[0].x(), c[0].y()));
  return poly;
}

double bev_intersection_area(const Box3D& a, const Box3D& b) {
  // Cheap reject on circumscribed circles before polygon clipping.
  const double ra = 0.5 * std::hypot(a.l_m, a.w_m), rb = 0.5 * std::hypot(b.l_m, b.w_m);
  if ((a.center.head<2>() - b.center.head<2>()).norm() > ra + rb) return 0.0;
  std::vector<BgPolygon> out;
  bg::intersection(to_polygon(a), to_polygon(b), out);
  double area = 0.0;
  for (const auto& p : out) area += bg::area(p);
  return std::max(area, 0.0);
}
}  // namespace

double bev_iou(const Box3D& a, const Box3D& b) {
  const double inter = bev_intersection_area(a, b);
  if (inter <= 0.0) return 0.0;
  const double uni = a.bev_area() + b.bev_area() - inter;
  return uni > 0.0 ? std::clamp(inter / uni, 0.0, 1.0) : 0.0;
}

double iou_3d(const Box3D& a, const Box3D& b) {
  const double z_lo = std::max(a.center.z() - 0.5 * a.h_m, b.center.z() - 0.5 * b.h_m);
  const double z_hi = std::min(a.center.z() + 0.5 * a.h_m, b.center.z() + 0.5 * b.h_m);
  if (z_hi <= z_lo) return 0.0;
  const double inter = bev_intersection_area(a, b) * (z_hi - z_lo);
  if (inter <= 0.0) return 0.0;
  const double uni = a.bev_area() * a.h_m + b.bev_area() * b.h_m - inter;
  return uni > 0.0 ? std::clamp(inter / uni, 0.0, 1.0) : 0.0;
}

}  // namespace v2x
