#include <gtest/gtest.h>

#include <fstream>

#include "test_util.hpp"
#include "v2x/sensors/dair.hpp"
#include "v2x/sensors/pcd.hpp"

namespace v2x::sensors {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

fs::path dair_root() { return test::realdata() / "dair-v2x-c-pair"; }

TEST(DairRealData, PointCountsAndLabelCounts) {
  V2X_REQUIRE_REALDATA("dair-v2x-c-pair");
  DairDataset ds(dair_root());
  EXPECT_EQ(ds.data_info_file().filename(), "selected_data_info.json");
  ASSERT_EQ(ds.size(), 1u);  // 520 other pairs of selected_data_info.json have no files here
  EXPECT_EQ(ds.absent_pairs(), 520u);
  EXPECT_EQ(ds.ref(0).scenario, "017314_001366");
  auto f = ds.load(0);
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_EQ(f->agents.size(), 2u);
  const AgentFrame* veh = f->agent(kDairVehicleId);
  const AgentFrame* inf = f->agent(kDairInfrastructureId);
  ASSERT_TRUE(veh && inf);
  EXPECT_EQ(f->ego, kDairVehicleId);
  EXPECT_FALSE(veh->is_rsu);
  EXPECT_TRUE(inf->is_rsu);
  EXPECT_EQ(veh->cloud.size(), 62199u);
  EXPECT_EQ(inf->cloud.size(), 53653u);
  EXPECT_TRUE(veh->cloud.time_s.has_value());  // the vehicle PCD has a float64 timestamp field
  EXPECT_EQ(veh->labels_world.size(), 23u);
  EXPECT_EQ(inf->labels_world.size(), 8u);
  // No world calibration in the sample: world = vehicle LiDAR frame, RSU pose = lidar_i2v.
  EXPECT_TRUE(veh->T_world_lidar.matrix().isIdentity());
  EXPECT_NEAR(inf->T_world_lidar.translation().x(), -5.6465017752668185, 1e-12);
  EXPECT_NEAR(inf->T_world_lidar.translation().y(), 12.151203361870731, 1e-12);
}

TEST(DairRealData, InfrastructureBoxesLandOnVehicleBoxesAfterLidarI2v) {
  V2X_REQUIRE_REALDATA("dair-v2x-c-pair");
  auto f = DairDataset(dair_root()).load(0);
  ASSERT_TRUE(f) << f.error().message;
  const AgentFrame* veh = f->agent(kDairVehicleId);
  const AgentFrame* inf = f->agent(kDairInfrastructureId);
  int matched = 0;
  for (const auto& o : inf->labels_world) {
    double best = 1e9;
    for (const auto& v : veh->labels_world)
      if (v.cls == o.cls) best = std::min(best, (v.box.center - o.box.center).head<2>().norm());
    if (best <= 0.5) ++matched;
  }
  EXPECT_GE(matched, 7) << "of " << inf->labels_world.size();
  // Ground truth without a cooperative label: the 23 vehicle boxes plus the roadside boxes that matched none.
  EXPECT_EQ(f->gt_world.size(), 23u + (8u - static_cast<unsigned>(matched)));
}

TEST(DairRealData, LabelledVehicleBoxesContainVehiclePoints) {
  V2X_REQUIRE_REALDATA("dair-v2x-c-pair");
  auto f = DairDataset(dair_root()).load(0);
  ASSERT_TRUE(f);
  const AgentFrame* veh = f->agent(kDairVehicleId);
  int with_points = 0, cars = 0;
  for (const auto& o : veh->labels_world) {
    if (o.cls != ObjectClass::Car) continue;
    ++cars;
    for (std::size_t i = 0; i < veh->cloud.size(); ++i)
      if (o.box.contains(Eigen::Vector3d(veh->cloud.x[i], veh->cloud.y[i], veh->cloud.z[i]))) {
        ++with_points;
        break;
      }
  }
  EXPECT_EQ(with_points, cars);
}

// A synthetic pair with the full world calibration chain and a system_error_offset.
void write_json(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

TEST(Dair, WorldCalibrationChainAppliesSystemErrorOffsetToTheRoadside) {
  TempDir tmp("dair_world");
  const fs::path r = tmp.path;
  write_json(r / "cooperative/data_info.json",
             R"([{"vehicle_pointcloud_path": "vehicle-side/velodyne/000001.pcd",
                  "infrastructure_pointcloud_path": "infrastructure-side/velodyne/000009.pcd",
                  "cooperative_label_path": "cooperative/label_world/000001.json",
                  "system_error_offset": {"delta_x": 0.5, "delta_y": -0.25}},
                 {"vehicle_pointcloud_path": "vehicle-side/velodyne/000002.pcd",
                  "infrastructure_pointcloud_path": "infrastructure-side/velodyne/000010.pcd",
                  "system_error_offset": ""}])");
  // lidar_to_novatel: +1 m x; novatel_to_world: yaw 90°, at (100, 200, 0). virtuallidar_to_world: at (110, 190, 5).
  write_json(r / "vehicle-side/calib/lidar_to_novatel/000001.json",
             R"({"transform": {"rotation": [[1,0,0],[0,1,0],[0,0,1]], "translation": [[1],[0],[0]]}})");
  write_json(r / "vehicle-side/calib/novatel_to_world/000001.json",
             R"({"rotation": [[0,-1,0],[1,0,0],[0,0,1]], "translation": [[100],[200],[0]]})");
  write_json(r / "infrastructure-side/calib/virtuallidar_to_world/000009.json",
             R"({"rotation": [[1,0,0],[0,1,0],[0,0,1]], "translation": [[110],[190],[5]]})");
  write_json(r / "vehicle-side/label/lidar/000001.json",
             R"([{"type": "Car", "3d_dimensions": {"h": 1.5, "w": 1.8, "l": 4.2}, "3d_location": {"x": 10, "y": 0, "z": -1}, "rotation": 0.0}])");
  write_json(r / "infrastructure-side/label/virtuallidar/000009.json",
             R"([{"type": "Van", "3d_dimensions": {"h": "2.0", "w": 2.0, "l": 5.0}, "3d_location": {"x": 1, "y": 2, "z": -4}, "rotation": 1.0}])");
  write_json(r / "cooperative/label_world/000001.json",
             R"([{"type": "Car", "world_8_points": [[0,0,0],[4,0,0],[4,2,0],[0,2,0],[0,0,1.5],[4,0,1.5],[4,2,1.5],[0,2,1.5]]}])");
  Rng rng(1);
  const PointCloud c = test::random_cloud(rng, 10);
  fs::create_directories(r / "vehicle-side/velodyne");
  fs::create_directories(r / "infrastructure-side/velodyne");
  write_pcd(c, r / "vehicle-side/velodyne/000001.pcd");
  write_pcd(c, r / "infrastructure-side/velodyne/000009.pcd");
  DairDataset ds(r);
  ASSERT_EQ(ds.size(), 1u);  // the second pair has no files at all
  EXPECT_EQ(ds.absent_pairs(), 1u);
  auto f = ds.load(0);
  ASSERT_TRUE(f) << f.error().message;
  const AgentFrame* veh = f->agent(kDairVehicleId);
  const AgentFrame* inf = f->agent(kDairInfrastructureId);
  // Vehicle LiDAR origin in the world: novatel_to_world · (1, 0, 0) = (100, 201, 0).
  EXPECT_LT((veh->T_world_lidar.translation() - Eigen::Vector3d(100, 201, 0)).norm(), 1e-12);
  EXPECT_LT((inf->T_world_lidar.translation() - Eigen::Vector3d(110.5, 189.75, 5)).norm(), 1e-12);
  // Labels in the world frame; the vehicle box yaw turns with the 90° novatel rotation.
  EXPECT_LT((veh->labels_world[0].box.center - Eigen::Vector3d(100, 211, -1)).norm(), 1e-9);
  EXPECT_NEAR(veh->labels_world[0].box.yaw_rad, M_PI / 2, 1e-12);
  EXPECT_EQ(inf->labels_world[0].cls, ObjectClass::Van);
  EXPECT_LT((inf->labels_world[0].box.center - Eigen::Vector3d(111.5, 191.75, 1)).norm(), 1e-9);
  // Cooperative world label: 4 × 2 × 1.5 box.
  ASSERT_EQ(f->gt_world.size(), 1u);
  EXPECT_NEAR(f->gt_world[0].box.l_m, 4.0, 1e-12);
  EXPECT_NEAR(f->gt_world[0].box.w_m, 2.0, 1e-12);
  EXPECT_NEAR(f->gt_world[0].box.h_m, 1.5, 1e-12);
  EXPECT_LT((f->gt_world[0].box.center - Eigen::Vector3d(2, 1, 0.75)).norm(), 1e-12);
}

TEST(DairBadInput, UnknownTypeAndBadJsonNameFileAndField) {
  TempDir tmp("dair_bad");
  write_json(tmp.path / "a.json", R"([{"type": "Spaceship", "3d_dimensions": {"h": 1, "w": 1, "l": 1}, "3d_location": {"x": 0, "y": 0, "z": 0}, "rotation": 0}])");
  auto a = read_dair_labels(tmp.path / "a.json", 0);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("a.json"), std::string::npos);
  EXPECT_NE(a.error().message.find("'[0].type'"), std::string::npos) << a.error().message;
  write_json(tmp.path / "b.json", R"([{"type": "Car", "3d_dimensions": {"h": 1, "w": 1}, "3d_location": {"x": 0, "y": 0, "z": 0}, "rotation": 0}])");
  auto b = read_dair_labels(tmp.path / "b.json", 0);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("3d_dimensions.l"), std::string::npos) << b.error().message;
  write_json(tmp.path / "c.json", R"({"rotation": [[1,0,0],[0,1,0]], "translation": [0,0,0]})");
  auto c = read_dair_calib(tmp.path / "c.json");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("'rotation'"), std::string::npos);
  write_json(tmp.path / "d.json", R"([{"type": "Car", )");
  auto d = read_dair_labels(tmp.path / "d.json", 0);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::Corrupt);
  EXPECT_NE(d.error().message.find("d.json"), std::string::npos);
  EXPECT_THROW(DairDataset(tmp.path), std::runtime_error);  // no cooperative/data_info.json
}

}  // namespace
}  // namespace v2x::sensors
