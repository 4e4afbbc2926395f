#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>

#include "test_util.hpp"
#include "v2x/sensors/opv2v.hpp"

namespace v2x::sensors {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

AgentFrame make_agent(Rng& rng, AgentId id, const Eigen::Vector3d& where, std::int64_t first_obj, int n_obj) {
  AgentFrame a;
  a.id = id;
  a.is_rsu = id < 0;
  a.stamp_ns = 123 * kNsPerMs;
  a.T_world_lidar = pose_from_carla({where.x(), where.y(), where.z(), rng.uniform(-1, 1), rng.uniform(-180, 180), rng.uniform(-1, 1)});
  if (!a.is_rsu) {
    Pose noisy = a.T_world_lidar;
    noisy.translation() += Eigen::Vector3d(rng.normal(0, 0.2), rng.normal(0, 0.2), 0);
    a.T_world_lidar_noisy = noisy;
  }
  a.speed_mps = rng.uniform(0, 15);
  a.cloud = test::random_cloud(rng, 300);
  for (int k = 0; k < n_obj; ++k) a.labels_world.push_back(test::random_object(rng, first_obj + k, where));
  CameraFrame cam;
  cam.name = "camera0";
  cam.calib.fx = cam.calib.fy = 335.6;
  cam.calib.cx = 400;
  cam.calib.cy = 300;
  cam.calib.width = 800;
  cam.calib.height = 600;
  Pose T_lidar_cv = Pose::Identity();
  T_lidar_cv.linear() << 0, 0, 1, -1, 0, 0, 0, -1, 0;
  T_lidar_cv.translation() = Eigen::Vector3d(2.5, 0, -0.9);
  cam.calib.T_lidar_camera = T_lidar_cv;
  a.cameras.push_back(cam);
  return a;
}

// Three agents close together, an RSU, a few frames. Objects 100..104 are seen by everybody.
std::vector<CoopFrame> make_fixture(std::uint64_t seed) {
  std::vector<CoopFrame> frames;
  Rng rng(seed);
  for (int t = 0; t < 3; ++t) {
    CoopFrame f;
    f.scenario = "scn_a";
    char name[16];
    std::snprintf(name, sizeof name, "%06d", 68 + 2 * t);
    f.timestamp = name;
    f.agents.push_back(make_agent(rng, 641, {10, 5, 1.9}, 100, 5));
    f.agents.push_back(make_agent(rng, 650, {30, 8, 1.9}, 100, 5));
    f.agents.push_back(make_agent(rng, -3, {20, -10, 4.0}, 200, 3));
    for (auto& a : f.agents) a.stamp_ns = (68 + 2 * t) * kOpv2vStepNs;
    f.ego = 641;
    f.stamp_ns = f.agents[0].stamp_ns;
    frames.push_back(std::move(f));
  }
  return frames;
}

void expect_pose_bits(const Pose& a, const Pose& b) {
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) ASSERT_EQ(a.matrix()(r, c), b.matrix()(r, c)) << r << "," << c;
}

void expect_box_bits(const Object3D& a, const Object3D& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.cls, b.cls);
  EXPECT_EQ(a.box.center.x(), b.box.center.x());
  EXPECT_EQ(a.box.center.y(), b.box.center.y());
  EXPECT_EQ(a.box.center.z(), b.box.center.z());
  EXPECT_EQ(a.box.l_m, b.box.l_m);
  EXPECT_EQ(a.box.w_m, b.box.w_m);
  EXPECT_EQ(a.box.h_m, b.box.h_m);
  EXPECT_EQ(a.box.yaw_rad, b.box.yaw_rad);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(Opv2vWriter, FixtureReadsBackIdentically) {
  TempDir tmp("opv2v_rt");
  const auto frames = make_fixture(42);
  for (const auto& f : frames) write_opv2v_frame(f, tmp.path);
  Opv2vDataset ds(tmp.path);
  ASSERT_EQ(ds.size(), frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    auto got = ds.load(i);
    ASSERT_TRUE(got) << got.error().message;
    const CoopFrame& want = frames[i];
    EXPECT_EQ(got->scenario, want.scenario);
    EXPECT_EQ(got->timestamp, want.timestamp);
    EXPECT_EQ(got->ego, 641);
    EXPECT_EQ(got->stamp_ns, want.stamp_ns);
    ASSERT_EQ(got->agents.size(), 3u);
    // OpenCOOD order: string-sorted ids, a leading negative id moved to the end: 641, 650, -3.
    EXPECT_EQ(got->agents[0].id, 641);
    EXPECT_EQ(got->agents[1].id, 650);
    EXPECT_EQ(got->agents[2].id, -3);
    for (const auto& wa : want.agents) {
      const AgentFrame* ga = got->agent(wa.id);
      ASSERT_NE(ga, nullptr);
      EXPECT_EQ(ga->is_rsu, wa.is_rsu);
      EXPECT_EQ(ga->stamp_ns, wa.stamp_ns);
      EXPECT_EQ(ga->speed_mps, wa.speed_mps);
      expect_pose_bits(ga->T_world_lidar, wa.T_world_lidar);
      ASSERT_EQ(ga->T_world_lidar_noisy.has_value(), wa.T_world_lidar_noisy.has_value());
      if (wa.T_world_lidar_noisy) expect_pose_bits(*ga->T_world_lidar_noisy, *wa.T_world_lidar_noisy);
      ASSERT_EQ(ga->labels_world.size(), wa.labels_world.size());
      // The writer sorts objects by id; the fixture's ids are ascending already.
      for (std::size_t k = 0; k < wa.labels_world.size(); ++k) {
        expect_box_bits(ga->labels_world[k], wa.labels_world[k]);
        EXPECT_EQ(ga->labels_world[k].lidar_points, wa.labels_world[k].lidar_points);
      }
      ASSERT_EQ(ga->cloud.size(), wa.cloud.size());
      for (std::size_t p = 0; p < wa.cloud.size(); ++p) {
        ASSERT_EQ(ga->cloud.x[p], wa.cloud.x[p]);
        ASSERT_EQ(ga->cloud.z[p], wa.cloud.z[p]);
        ASSERT_NEAR(ga->cloud.intensity[p], wa.cloud.intensity[p], 0.5 / 255 + 1e-6);
      }
      ASSERT_EQ(ga->cameras.size(), 1u);
      expect_pose_bits(ga->cameras[0].calib.T_lidar_camera, wa.cameras[0].calib.T_lidar_camera);
      EXPECT_EQ(ga->cameras[0].calib.fx, wa.cameras[0].calib.fx);
      EXPECT_EQ(ga->cameras[0].calib.cx, wa.cameras[0].calib.cx);
      EXPECT_EQ(ga->cameras[0].calib.width, 800);
    }
    // GT: union de-duplicated by id: 100..104 (both CAVs) + 200..202 (RSU).
    EXPECT_EQ(got->gt_world.size(), 8u);
  }
}

TEST(Opv2vWriter, StandardKeysAloneGiveTheSameGeometryToOpenCoodPrecision) {
  TempDir tmp("opv2v_std");
  const auto frames = make_fixture(43);
  Opv2vWriteOptions wo;
  wo.write_exact_keys = false;
  write_opv2v_frame(frames[0], tmp.path, wo);
  Opv2vDataset ds(tmp.path);
  auto got = ds.load(0);
  ASSERT_TRUE(got) << got.error().message;
  for (const auto& wa : frames[0].agents) {
    const AgentFrame* ga = got->agent(wa.id);
    ASSERT_NE(ga, nullptr);
    EXPECT_LT((ga->T_world_lidar.matrix() - wa.T_world_lidar.matrix()).cwiseAbs().maxCoeff(), 1e-9);
    for (std::size_t k = 0; k < wa.labels_world.size(); ++k) {
      EXPECT_LT((ga->labels_world[k].box.center - wa.labels_world[k].box.center).norm(), 1e-9);
      EXPECT_NEAR(wrap_angle(ga->labels_world[k].box.yaw_rad - wa.labels_world[k].box.yaw_rad), 0.0, 1e-12);
      EXPECT_NEAR(ga->labels_world[k].box.l_m, wa.labels_world[k].box.l_m, 1e-12);
    }
    EXPECT_LT((ga->cameras[0].calib.T_lidar_camera.matrix() - wa.cameras[0].calib.T_lidar_camera.matrix()).cwiseAbs().maxCoeff(), 1e-9);
    EXPECT_NEAR(ga->speed_mps, wa.speed_mps, 1e-9);
  }
}

TEST(Opv2vWriter, SameFrameGivesSameBytesAndNoTemporaryFiles) {
  TempDir a("opv2v_det_a"), b("opv2v_det_b");
  const auto frames = make_fixture(44);
  write_opv2v_frame(frames[0], a.path);
  write_opv2v_frame(frames[0], b.path);
  for (const auto& e : fs::recursive_directory_iterator(a.path)) {
    if (!e.is_regular_file()) continue;
    const fs::path rel = fs::relative(e.path(), a.path);
    EXPECT_NE(rel.filename().string().front(), '.') << rel;
    EXPECT_EQ(slurp(e.path()), slurp(b.path / rel)) << rel;
  }
}

TEST(Opv2vWriter, YamlHasTheOpv2vKeys) {
  TempDir tmp("opv2v_keys");
  const auto frames = make_fixture(45);
  write_opv2v_frame(frames[0], tmp.path);
  const YAML::Node y = YAML::LoadFile((tmp.path / "scn_a" / "641" / "000068.yaml").string());
  for (const char* k : {"RSU", "camera0", "ego_speed", "lidar_pose", "predicted_ego_pos", "true_ego_pos", "vehicles"})
    EXPECT_TRUE(y[k]) << k;
  EXPECT_FALSE(y["RSU"].as<bool>());
  EXPECT_TRUE(YAML::LoadFile((tmp.path / "scn_a" / "-3" / "000068.yaml").string())["RSU"].as<bool>());
  const YAML::Node v = y["vehicles"]["100"];
  for (const char* k : {"angle", "center", "extent", "location", "speed", kOpv2vLidarPointsKey}) EXPECT_TRUE(v[k]) << k;
  EXPECT_EQ(v["extent"].size(), 3u);
  // Half sizes.
  EXPECT_DOUBLE_EQ(v["extent"][0].as<double>() * 2, frames[0].agents[0].labels_world[0].box.l_m);
  EXPECT_TRUE(y["camera0"]["extrinsic"].IsSequence());
  EXPECT_EQ(y["camera0"]["intrinsic"].size(), 3u);
}

TEST(Opv2vWriter, RejectsAnRsuWithPositiveId) {
  TempDir tmp("opv2v_bad");
  auto frames = make_fixture(46);
  frames[0].agents[0].is_rsu = true;
  EXPECT_THROW(write_opv2v_frame(frames[0], tmp.path), std::invalid_argument);
}

}  // namespace
}  // namespace v2x::sensors
