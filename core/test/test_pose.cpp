#include <gtest/gtest.h>

#include "v2x/core/box.hpp"
#include "v2x/core/pose.hpp"
#include "v2x/core/rng.hpp"

using namespace v2x;

TEST(Pose, CarlaDegreesRoundTripThroughMatrix) {
  Rng rng(3);
  for (int i = 0; i < 100; ++i) {
    const std::array<double, 6> p{rng.uniform(-300, 300), rng.uniform(-300, 300), rng.uniform(-2, 10),
                                  rng.uniform(-30, 30), rng.uniform(-179, 179), rng.uniform(-30, 30)};
    const auto q = pose_to_carla(pose_from_carla(p));
    for (int k = 0; k < 6; ++k) EXPECT_NEAR(p[k], q[k], 1e-9) << "element " << k;
  }
}

TEST(Pose, CarlaYawOnlyIsPlanarRotation) {
  const Pose T = pose_from_carla({1, 2, 3, 0, 90, 0});
  const Eigen::Vector3d p = T * Eigen::Vector3d(1, 0, 0);
  EXPECT_NEAR(p.x(), 1, 1e-12);
  EXPECT_NEAR(p.y(), 3, 1e-12);
  EXPECT_NEAR(yaw_of(T), M_PI / 2, 1e-12);
}

TEST(Pose, CarlaMatrixIsARotation) {
  const Pose T = pose_from_carla({0, 0, 0, 12, -40, 7});
  EXPECT_NEAR((T.linear() * T.linear().transpose() - Eigen::Matrix3d::Identity()).norm(), 0, 1e-12);
  EXPECT_NEAR(T.linear().determinant(), 1.0, 1e-12);
}

TEST(Pose, DairRotationTranslationRoundTripsThroughCarla) {
  const Pose A = pose_from_carla({10, -4, 1.5, 2, 33, -1});
  const Pose B = pose_from_rotation_translation(A.linear(), A.translation());
  EXPECT_TRUE(A.isApprox(B, 1e-12));
  const auto back = pose_to_carla(B);
  EXPECT_NEAR(back[4], 33, 1e-9);
  EXPECT_NEAR(back[3], 2, 1e-9);
  EXPECT_NEAR(back[5], -1, 1e-9);
}

TEST(Pose, ComposeAndInvert) {
  const Pose T_world_a = pose_from_carla({5, 1, 0, 0, 30, 0});
  const Pose T_world_b = pose_from_carla({-3, 8, 0.5, 1, -70, 2});
  const Pose T_a_b = T_world_a.inverse() * T_world_b;
  const Eigen::Vector3d p_b(2, -1, 0.3);
  EXPECT_TRUE((T_world_a * (T_a_b * p_b)).isApprox(T_world_b * p_b, 1e-12));
  EXPECT_TRUE((T_a_b * T_a_b.inverse()).isApprox(Pose::Identity(), 1e-12));
}

TEST(Pose, BoxTransformMovesCentreAndYaw) {
  Box3D b;
  b.center = {1, 0, 0};
  b.l_m = 4; b.w_m = 2; b.h_m = 1.5; b.yaw_rad = 0.1;
  const Box3D t = b.transformed(planar_pose(10, 0, 0, M_PI / 2));
  EXPECT_NEAR(t.center.x(), 10, 1e-12);
  EXPECT_NEAR(t.center.y(), 1, 1e-12);
  EXPECT_NEAR(t.yaw_rad, 0.1 + M_PI / 2, 1e-12);
}

TEST(Pose, WrapAngleIntoHalfOpenInterval) {
  EXPECT_NEAR(wrap_angle(3 * M_PI), M_PI, 1e-12);
  EXPECT_NEAR(wrap_angle(-M_PI), M_PI, 1e-12);
  EXPECT_NEAR(wrap_angle(0.5), 0.5, 1e-15);
}
