#include <gtest/gtest.h>

#include <fstream>

#include "test_util.hpp"
#include "v2x/sensors/kitti.hpp"

namespace v2x::sensors {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

TEST(KittiRealData, EveryLabelledBoxWithin40mContainsLidarPoints) {
  V2X_REQUIRE_REALDATA("kitti/training");
  KittiDataset ds(test::realdata() / "kitti");
  ASSERT_EQ(ds.size(), 6u);
  int checked = 0;
  for (std::size_t i = 0; i < ds.size(); ++i) {
    auto f = ds.load(i);
    ASSERT_TRUE(f) << f.error().message;
    const AgentFrame& a = f->agents.at(0);
    EXPECT_GT(a.cloud.size(), 100000u);
    for (const auto& o : a.labels_world) {
      if (o.cls == ObjectClass::Unknown) continue;  // Tram/Misc
      if (o.cls == ObjectClass::Bus) continue;      // not a KITTI class
      if (o.box.center.head<2>().norm() > 40.0) continue;
      int inside = 0;
      for (std::size_t p = 0; p < a.cloud.size() && inside == 0; ++p)
        if (o.box.contains(Eigen::Vector3d(a.cloud.x[p], a.cloud.y[p], a.cloud.z[p]))) ++inside;
      EXPECT_GT(inside, 0) << "frame " << f->timestamp << " object " << o.id << " (" << to_string(o.cls) << ") at "
                           << o.box.center.transpose();
      ++checked;
    }
  }
  EXPECT_GE(checked, 4);  // 000000–000005 hold 4 such boxes within 40 m (BEV distance from the LiDAR)
}

TEST(KittiRealData, Frame000000PedestrianIsInFrontOfTheCar) {
  V2X_REQUIRE_REALDATA("kitti/training");
  // 000000: one Pedestrian, camera location (1.84, 1.47, 8.41), ry 0.01, h 1.89.
  KittiDataset ds(test::realdata() / "kitti" / "training");
  auto f = ds.load(0);
  ASSERT_TRUE(f);
  ASSERT_EQ(f->gt_world.size(), 1u);
  const Box3D& b = f->gt_world[0].box;
  EXPECT_EQ(f->gt_world[0].cls, ObjectClass::Pedestrian);
  EXPECT_NEAR(b.center.x(), 8.41 + 0.27, 0.3);   // forward (camera z + ~0.27 m LiDAR-to-camera offset)
  EXPECT_NEAR(b.center.y(), -1.84, 0.3);         // camera x right → LiDAR −y
  EXPECT_NEAR(wrap_angle(b.yaw_rad - (-0.01 - M_PI / 2)), 0.0, 0.02);
}

TEST(Kitti, ConvertsBottomCentreCameraBoxIntoLidarCentreBox) {
  TempDir tmp("kitti_conv");
  // Identity-like calibration: camera x = −LiDAR y, camera y = −LiDAR z, camera z = LiDAR x.
  std::ofstream(tmp.path / "calib.txt") << "P2: 1 0 0 0 0 1 0 0 0 0 1 0\nR0_rect: 1 0 0 0 1 0 0 0 1\n"
                                           "Tr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0\n";
  std::ofstream(tmp.path / "label.txt") << "Car 0.00 0 0.0 0 0 10 10 1.5 1.8 4.0 2.0 1.0 20.0 0.0\n"
                                           "DontCare -1 -1 -10 0 0 1 1 -1 -1 -1 -1000 -1000 -1000 -10\n"
                                           "Cyclist 0.00 0 0.0 0 0 10 10 1.7 0.6 1.8 -3.0 1.0 10.0 1.5707963267948966\n";
  auto calib = read_kitti_calib(tmp.path / "calib.txt");
  ASSERT_TRUE(calib) << calib.error().message;
  auto labels = read_kitti_labels(tmp.path / "label.txt", *calib);
  ASSERT_TRUE(labels) << labels.error().message;
  ASSERT_EQ(labels->size(), 2u);
  const Box3D& car = (*labels)[0].box;
  EXPECT_LT((car.center - Eigen::Vector3d(20.0, -2.0, -1.0 + 0.75)).norm(), 1e-12);
  EXPECT_EQ(car.l_m, 4.0);
  EXPECT_EQ(car.w_m, 1.8);
  EXPECT_EQ(car.h_m, 1.5);
  EXPECT_NEAR(wrap_angle(car.yaw_rad + M_PI / 2), 0.0, 1e-12);  // ry = 0: facing camera x (right) = LiDAR −y
  const Box3D& cyc = (*labels)[1].box;
  EXPECT_NEAR(wrap_angle(cyc.yaw_rad - M_PI), 0.0, 1e-12);      // ry = π/2 → −π/2 − π/2 = −π
  EXPECT_EQ((*labels)[1].id, 2);                                // ids are line indices
}

TEST(KittiBadInput, BadLinesAndKeysNameTheFile) {
  TempDir tmp("kitti_bad");
  std::ofstream(tmp.path / "calib.txt") << "R0_rect: 1 0 0 0 1 0 0 0 1\n";
  auto c = read_kitti_calib(tmp.path / "calib.txt");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("Tr_velo_to_cam"), std::string::npos);
  std::ofstream(tmp.path / "calib.txt") << "R0_rect: 1 0 0 0 1 0 0 0 1\nTr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0\n";
  auto good = read_kitti_calib(tmp.path / "calib.txt");
  ASSERT_TRUE(good);
  std::ofstream(tmp.path / "l1.txt") << "Spaceship 0 0 0 0 0 1 1 1 1 1 1 1 1 0\n";
  auto l1 = read_kitti_labels(tmp.path / "l1.txt", *good);
  ASSERT_FALSE(l1);
  EXPECT_NE(l1.error().message.find("l1.txt: line 1"), std::string::npos);
  EXPECT_NE(l1.error().message.find("'type'"), std::string::npos);
  std::ofstream(tmp.path / "l2.txt") << "Car 0 0 0 0 0 1 1 1 1\n";
  auto l2 = read_kitti_labels(tmp.path / "l2.txt", *good);
  ASSERT_FALSE(l2);
  EXPECT_NE(l2.error().message.find("l2.txt: line 1"), std::string::npos);
  EXPECT_FALSE(read_kitti_labels(tmp.path / "absent.txt", *good));
}

}  // namespace
}  // namespace v2x::sensors
