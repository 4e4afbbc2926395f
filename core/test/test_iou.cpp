#include <gtest/gtest.h>

#include <cmath>

#include "v2x/core/box.hpp"
#include "v2x/core/rng.hpp"

using v2x::Box3D;

namespace {
Box3D make_box(double x, double y, double l, double w, double yaw) {
  Box3D b;
  b.center = {x, y, 0.0};
  b.l_m = l; b.w_m = w; b.h_m = 1.5;
  b.yaw_rad = yaw;
  return b;
}

// Monte-Carlo estimate of BEV IoU on a regular sub-sampled lattice over the union's bounding box.
double sampled_iou(const Box3D& a, const Box3D& b, int n) {
  double xmin = 1e9, xmax = -1e9, ymin = 1e9, ymax = -1e9;
  for (const auto& box : {a, b})
    for (const auto& c : box.bev_corners()) {
      xmin = std::min(xmin, c.x()); xmax = std::max(xmax, c.x());
      ymin = std::min(ymin, c.y()); ymax = std::max(ymax, c.y());
    }
  long in_a = 0, in_b = 0, in_both = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const Eigen::Vector3d p(xmin + (i + 0.5) * (xmax - xmin) / n, ymin + (j + 0.5) * (ymax - ymin) / n, 0.0);
      const bool ia = a.contains(p), ib = b.contains(p);
      in_a += ia; in_b += ib; in_both += ia && ib;
    }
  const long uni = in_a + in_b - in_both;
  return uni ? static_cast<double>(in_both) / uni : 0.0;
}
}  // namespace

TEST(RotatedIou, IdenticalBoxesGiveOne) {
  const Box3D b = make_box(3, -2, 4.5, 1.8, 0.7);
  EXPECT_NEAR(v2x::bev_iou(b, b), 1.0, 1e-12);
}

TEST(RotatedIou, DisjointBoxesGiveZero) {
  EXPECT_EQ(v2x::bev_iou(make_box(0, 0, 4, 2, 0.3), make_box(10, 10, 4, 2, -1.0)), 0.0);
  // Touching only at an edge: zero area.
  EXPECT_NEAR(v2x::bev_iou(make_box(0, 0, 2, 2, 0), make_box(2, 0, 2, 2, 0)), 0.0, 1e-12);
}

TEST(RotatedIou, BoxRotated90DegreesAboutItsCentreGivesExactAreaRatio) {
  // l×w box vs. the same rotated 90°: intersection is w×w, union 2lw − w².
  const double l = 4.0, w = 2.0;
  const Box3D a = make_box(1, 1, l, w, 0.2);
  const Box3D b = make_box(1, 1, l, w, 0.2 + M_PI / 2);
  EXPECT_NEAR(v2x::bev_iou(a, b), (w * w) / (2 * l * w - w * w), 1e-12);
}

TEST(RotatedIou, IsSymmetric) {
  v2x::Rng rng(7);
  for (int i = 0; i < 200; ++i) {
    const Box3D a = make_box(rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(1, 6), rng.uniform(1, 3), rng.uniform(-3, 3));
    const Box3D b = make_box(rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(1, 6), rng.uniform(1, 3), rng.uniform(-3, 3));
    EXPECT_NEAR(v2x::bev_iou(a, b), v2x::bev_iou(b, a), 1e-12);
  }
}

TEST(RotatedIou, AgreesWithBruteForceSamplingOn1000RandomPairs) {
  v2x::Rng rng(20261121);
  double worst = 0.0;
  for (int i = 0; i < 1000; ++i) {
    const Box3D a = make_box(rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5), rng.uniform(1, 5), rng.uniform(0.8, 2.5), rng.uniform(-M_PI, M_PI));
    const Box3D b = make_box(rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5), rng.uniform(1, 5), rng.uniform(0.8, 2.5), rng.uniform(-M_PI, M_PI));
    const double exact = v2x::bev_iou(a, b);
    const double sampled = sampled_iou(a, b, 700);
    worst = std::max(worst, std::abs(exact - sampled));
  }
  EXPECT_LT(worst, 1e-3);
}

TEST(RotatedIou, Iou3dAccountsForHeightOverlap) {
  Box3D a = make_box(0, 0, 4, 2, 0);
  Box3D b = a;
  b.center.z() = 0.75;  // half the height overlaps
  EXPECT_NEAR(v2x::iou_3d(a, b), 0.5 / 1.5, 1e-12);
}

TEST(Box3D, CornersAndContainsAgree) {
  const Box3D b = make_box(5, 3, 4, 2, 0.5);
  for (const auto& c : b.corners()) EXPECT_TRUE(b.contains(c + (b.center - c) * 1e-9));
  EXPECT_FALSE(b.contains(Eigen::Vector3d(5 + 3, 3, 0)));
}
