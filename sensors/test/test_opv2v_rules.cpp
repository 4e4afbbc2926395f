// One test per OpenCOOD loading rule, bad-input tests, and the real V2XSet sample.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>

#include "test_util.hpp"
#include "v2x/sensors/opv2v.hpp"

namespace v2x::sensors {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

AgentFrame agent_at(AgentId id, double x, double y, std::vector<Object3D> objs = {}) {
  AgentFrame a;
  a.id = id;
  a.is_rsu = id < 0;
  a.T_world_lidar = planar_pose(x, y, 1.9, 0.3);
  a.cloud.push_back(1, 2, 0, 0.5f);
  a.labels_world = std::move(objs);
  return a;
}

Object3D obj(std::int64_t id, double x, double y, double l = 4.0) {
  Object3D o;
  o.id = id;
  o.box.center = Eigen::Vector3d(x, y, 0.8);
  o.box.l_m = l;
  o.box.w_m = 1.8;
  o.box.h_m = 1.6;
  return o;
}

CoopFrame frame(std::vector<AgentFrame> agents, const std::string& ts = "000010") {
  CoopFrame f;
  f.scenario = "s";
  f.timestamp = ts;
  f.agents = std::move(agents);
  f.ego = f.agents.front().id;
  return f;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void replace_in_file(const fs::path& p, const std::string& from, const std::string& to) {
  std::string s = slurp(p);
  const auto at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  s.replace(at, from.size(), to);
  std::ofstream(p) << s;
}

TEST(Opv2vRules, GroundTruthIsUnionDeduplicatedById) {
  TempDir tmp("r_dedup");
  // Both agents see object 7; the ego's copy (first agent) is kept. Agent 20 alone sees 8; ego alone sees 5.
  write_opv2v_frame(frame({agent_at(10, 0, 0, {obj(5, 3, 3), obj(7, 10, 0, 4.0)}),
                           agent_at(20, 5, 0, {obj(7, 10, 0, 4.5), obj(8, 20, 0)})}),
                    tmp.path);
  Opv2vDataset ds(tmp.path);
  auto f = ds.load(0);
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_EQ(f->gt_world.size(), 3u);
  std::map<std::int64_t, double> len;
  for (const auto& o : f->gt_world) len[o.id] = o.box.l_m;
  EXPECT_EQ(len.count(5) + len.count(7) + len.count(8), 3u);
  EXPECT_EQ(len[7], 4.0);  // first occurrence in agent order (the ego's)
}

TEST(Opv2vRules, NegativeIdIsRsuAndNeverEgo) {
  TempDir tmp("r_rsu");
  // String order is "-1" < "3" < "4": OpenCOOD moves the leading negative id to the end.
  write_opv2v_frame(frame({agent_at(-1, 0, 0), agent_at(3, 1, 0), agent_at(4, 2, 0)}), tmp.path);
  Opv2vDataset ds(tmp.path);
  ASSERT_EQ(ds.scenarios().size(), 1u);
  EXPECT_EQ(ds.scenarios()[0].agent_dirs, (std::vector<std::string>{"3", "4", "-1"}));
  auto f = ds.load(0);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->ego, 3);
  ASSERT_NE(f->agent(-1), nullptr);
  EXPECT_TRUE(f->agent(-1)->is_rsu);
  EXPECT_FALSE(f->agent(3)->is_rsu);
}

TEST(Opv2vRules, EgoIsFirstInStringOrderNotNumericOrder) {
  TempDir tmp("r_order");
  write_opv2v_frame(frame({agent_at(99, 0, 0), agent_at(100, 1, 0)}), tmp.path);
  auto f = Opv2vDataset(tmp.path).load(0);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->ego, 100);  // "100" < "99" as strings, as Python's sorted(os.listdir(...))
}

TEST(Opv2vRules, AgentsBeyondCommRangeAreDroppedWithTheirLabels) {
  TempDir tmp("r_range");
  // Agent 2 at 69.9 m (kept), agent 3 at 70.1 m (dropped, and so is the object only it sees).
  write_opv2v_frame(frame({agent_at(1, 0, 0, {obj(50, 1, 1)}), agent_at(2, 69.9, 0, {obj(51, 60, 0)}),
                           agent_at(3, 0, 70.1, {obj(52, 0, 80)})}),
                    tmp.path);
  auto f = Opv2vDataset(tmp.path).load(0);
  ASSERT_TRUE(f);
  EXPECT_NE(f->agent(2), nullptr);
  EXPECT_EQ(f->agent(3), nullptr);
  EXPECT_EQ(f->gt_world.size(), 2u);
  Opv2vReadOptions wide;
  wide.comm_range_m = 100;
  auto g = Opv2vDataset(tmp.path, wide).load(0);
  ASSERT_TRUE(g);
  EXPECT_NE(g->agent(3), nullptr);
  EXPECT_EQ(g->gt_world.size(), 3u);
}

TEST(Opv2vRules, AdditionalYamlsAreNotFrames) {
  TempDir tmp("r_additional");
  write_opv2v_frame(frame({agent_at(1, 0, 0)}, "000010"), tmp.path);
  fs::copy_file(tmp.path / "s" / "1" / "000010.yaml", tmp.path / "s" / "1" / "000012_additional.yaml");
  fs::copy_file(tmp.path / "s" / "1" / "000010.yaml", tmp.path / "s" / "1" / "000014.yaml.additional.yaml");
  Opv2vDataset ds(tmp.path);
  EXPECT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds.ref(0).timestamp, "000010");
}

TEST(Opv2vRules, PredictedEgoPosBecomesTheNoisyPoseOnlyWhenItDiffers) {
  TempDir tmp("r_noisy");
  write_opv2v_frame(frame({agent_at(1, 0, 0), agent_at(2, 5, 0)}), tmp.path);
  // Agent 1: predicted = true (no noisy pose). Agent 2: GPS estimate 0.5 m off in x, 2° off in yaw.
  const fs::path y2 = tmp.path / "s" / "2" / "000010.yaml";
  YAML::Node n = YAML::LoadFile(y2.string());
  std::vector<double> truth = n["true_ego_pos"].as<std::vector<double>>();
  std::vector<double> pred = truth;
  pred[0] += 0.5;
  pred[4] += 2.0;
  n["predicted_ego_pos"] = pred;
  n.remove("v2x_T_world_lidar_noisy");
  std::ofstream(y2) << n;
  auto f = Opv2vDataset(tmp.path).load(0);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_FALSE(f->agent(1)->T_world_lidar_noisy.has_value());
  const AgentFrame* a2 = f->agent(2);
  ASSERT_TRUE(a2->T_world_lidar_noisy.has_value());
  // True pose comes from lidar_pose (OpenCOOD uses lidar_pose for every transform).
  EXPECT_LT((a2->T_world_lidar.translation() - Eigen::Vector3d(5, 0, 1.9)).norm(), 1e-9);
  const Pose delta = a2->T_world_lidar.inverse() * *a2->T_world_lidar_noisy;
  EXPECT_NEAR(rad_to_deg(yaw_of(*a2->T_world_lidar_noisy) - yaw_of(a2->T_world_lidar)), 2.0, 1e-9);
  EXPECT_NEAR((a2->T_world_lidar_noisy->translation() - a2->T_world_lidar.translation()).norm(), 0.5, 1e-9);
  (void)delta;
}

// ---- bad input: one error naming the file and the field -----------------------------------------------

TEST(Opv2vBadInput, MissingPcdNamesTheFile) {
  TempDir tmp("b_pcd");
  write_opv2v_frame(frame({agent_at(1, 0, 0), agent_at(2, 5, 0)}), tmp.path);
  fs::remove(tmp.path / "s" / "2" / "000010.pcd");
  auto f = Opv2vDataset(tmp.path).load(0);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, ErrorCode::Missing);
  EXPECT_NE(f.error().message.find("2/000010.pcd"), std::string::npos) << f.error().message;
}

TEST(Opv2vBadInput, MalformedYamlNamesTheFileAndLine) {
  TempDir tmp("b_yaml");
  write_opv2v_frame(frame({agent_at(1, 0, 0)}), tmp.path);
  std::ofstream(tmp.path / "s" / "1" / "000010.yaml") << "lidar_pose: [1, 2\nvehicles: {\n";
  auto f = Opv2vDataset(tmp.path).load(0);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, ErrorCode::Corrupt);
  EXPECT_NE(f.error().message.find("000010.yaml"), std::string::npos);
  EXPECT_NE(f.error().message.find("line"), std::string::npos) << f.error().message;
}

TEST(Opv2vBadInput, BadFieldValuesNameTheField) {
  TempDir tmp("b_field");
  write_opv2v_frame(frame({agent_at(1, 0, 0, {obj(5, 3, 3)})}), tmp.path);
  const fs::path y = tmp.path / "s" / "1" / "000010.yaml";
  const std::string good = slurp(y);
  struct Case { std::string from, to, field; };
  const std::vector<Case> cases = {
      {"RSU: false", "RSU: maybe", "'RSU'"},
      {"v2x_class: Car", "v2x_class: Spaceship", "'vehicles/5/v2x_class'"},
      {"lidar_pose:\n  -", "lidar_pose:\n  - oops\n  -", "'lidar_pose'"},
      {"extent:\n      -", "extent:\n      - -1\n      -", "'vehicles/5/extent'"},
  };
  for (const auto& c : cases) {
    std::ofstream(y) << good;
    replace_in_file(y, c.from, c.to);
    auto f = Opv2vDataset(tmp.path).load(0);
    ASSERT_FALSE(f) << c.to;
    EXPECT_NE(f.error().message.find("000010.yaml"), std::string::npos) << f.error().message;
    EXPECT_NE(f.error().message.find(c.field), std::string::npos) << f.error().message;
  }
  std::ofstream(y) << good;
  YAML::Node n = YAML::LoadFile(y.string());
  n.remove("vehicles");
  std::ofstream(y) << n;
  auto f = Opv2vDataset(tmp.path).load(0);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("'vehicles'"), std::string::npos) << f.error().message;
}

TEST(Opv2vBadInput, UnusableLayoutThrowsNamingTheFolder) {
  TempDir tmp("b_layout");
  EXPECT_THROW(Opv2vDataset(tmp.path / "absent"), std::runtime_error);
  fs::create_directories(tmp.path / "scn" / "not_an_id");
  try {
    Opv2vDataset ds(tmp.path);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not_an_id"), std::string::npos);
  }
}

// ---- the real V2XSet sample ----------------------------------------------------------------------------

TEST(Opv2vRealData, V2xSetSampleLoadsWithOpenCoodRules) {
  V2X_REQUIRE_REALDATA("v2xset-sample");
  Opv2vDataset ds(test::realdata() / "v2xset-sample" / "validate");
  ASSERT_EQ(ds.size(), 1u);
  auto f = ds.load(0);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->scenario, "2021_08_21_17_30_41");
  EXPECT_EQ(f->timestamp, "000069");
  EXPECT_EQ(f->ego, 4279);
  const AgentFrame* ego = f->agent(4279);
  ASSERT_NE(ego, nullptr);
  EXPECT_EQ(ego->cloud.size(), 39719u);
  EXPECT_FALSE(ego->is_rsu);
  ASSERT_EQ(ego->cameras.size(), 4u);
  EXPECT_EQ(ego->cameras[0].calib.width, 800);
  EXPECT_NEAR(ego->speed_mps, 16.512588725917475 / 3.6, 1e-12);
  // predicted_ego_pos differs from true_ego_pos in the sample → a noisy pose.
  EXPECT_TRUE(ego->T_world_lidar_noisy.has_value());
  // The intensity is packed in the red channel of `rgb`: values in [0, 1], not all zero.
  float max_i = 0;
  for (float v : ego->cloud.intensity) max_i = std::max(max_i, v);
  EXPECT_GT(max_i, 0.5f);
  EXPECT_LE(max_i, 1.0f);
  EXPECT_GT(f->gt_world.size(), 10u);
  // Every vehicle agent 4279 itself lists within 30 m contains some of its LiDAR points (README's known property).
  // The cooperative union also holds vehicle 4325, listed only by agent 4288: 20 m ahead of 4279 but hidden
  // behind a taller vehicle, so it has no 4279 points — the reason cooperative GT is a union.
  const Pose T_lidar_world = ego->T_world_lidar.inverse();
  auto points_in = [&](const Object3D& o) {
    const Box3D b = o.box.transformed(T_lidar_world);
    int inside = 0;
    for (std::size_t i = 0; i < ego->cloud.size(); ++i)
      if (b.contains(Eigen::Vector3d(ego->cloud.x[i], ego->cloud.y[i], ego->cloud.z[i]))) ++inside;
    return std::make_pair(b.center.head<2>().norm(), inside);
  };
  int checked = 0;
  for (const auto& o : ego->labels_world) {
    const auto [dist, inside] = points_in(o);
    if (dist > 30.0) continue;
    EXPECT_GT(inside, 0) << "vehicle " << o.id << " at " << dist << " m";
    ++checked;
  }
  EXPECT_GE(checked, 3);
  bool found_4325 = false;
  for (const auto& o : f->gt_world)
    if (o.id == 4325) {
      found_4325 = true;
      const auto [dist, inside] = points_in(o);
      EXPECT_LT(dist, 30.0);
      EXPECT_EQ(inside, 0);
    }
  EXPECT_TRUE(found_4325);
}

TEST(Opv2vRealData, ExtrinsicIsLidarToCameraActorAsCordsSay) {
  V2X_REQUIRE_REALDATA("v2xset-sample");
  const fs::path y = test::realdata() / "v2xset-sample/validate/2021_08_21_17_30_41/4279/000069.yaml";
  const YAML::Node n = YAML::LoadFile(y.string());
  auto carla = [](const YAML::Node& v) {
    std::array<double, 6> a{};
    for (int i = 0; i < 6; ++i) a[static_cast<std::size_t>(i)] = v[i].as<double>();
    return pose_from_carla(a);
  };
  for (int c = 0; c < 4; ++c) {
    const YAML::Node cam = n["camera" + std::to_string(c)];
    Eigen::Matrix4d ext;
    for (int r = 0; r < 4; ++r)
      for (int k = 0; k < 4; ++k) ext(r, k) = cam["extrinsic"][r][k].as<double>();
    const Eigen::Matrix4d from_cords = (carla(cam["cords"]).inverse() * carla(n["lidar_pose"])).matrix();
    EXPECT_LT((ext - from_cords).cwiseAbs().maxCoeff(), 1e-3) << "camera" << c;
  }
}

TEST(Opv2vRealData, WriterReproducesTheSampleGeometry) {
  V2X_REQUIRE_REALDATA("v2xset-sample");
  TempDir tmp("real_rewrite");
  Opv2vDataset ds(test::realdata() / "v2xset-sample" / "validate");
  auto f = ds.load(0);
  ASSERT_TRUE(f);
  write_opv2v_frame(*f, tmp.path);
  auto g = Opv2vDataset(tmp.path).load(0);
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_EQ(g->agents.size(), f->agents.size());
  ASSERT_EQ(g->gt_world.size(), f->gt_world.size());
  for (std::size_t i = 0; i < f->agents.size(); ++i) {
    EXPECT_EQ(g->agents[i].T_world_lidar.matrix(), f->agents[i].T_world_lidar.matrix());
    EXPECT_EQ(g->agents[i].cloud.x, f->agents[i].cloud.x);
    EXPECT_EQ(g->agents[i].cloud.intensity, f->agents[i].cloud.intensity);
    for (std::size_t c = 0; c < 4; ++c) {
      const auto& a = f->agents[i].cameras[c].calib;
      const auto& b = g->agents[i].cameras[c].calib;
      EXPECT_EQ(a.T_lidar_camera.matrix(), b.T_lidar_camera.matrix());
      EXPECT_LT((a.T_world_camera->matrix() - b.T_world_camera->matrix()).cwiseAbs().maxCoeff(), 1e-9);
    }
  }
  for (std::size_t k = 0; k < f->gt_world.size(); ++k) {
    EXPECT_EQ(g->gt_world[k].box.center, f->gt_world[k].box.center);
    EXPECT_EQ(g->gt_world[k].box.yaw_rad, f->gt_world[k].box.yaw_rad);
  }
}

}  // namespace
}  // namespace v2x::sensors
