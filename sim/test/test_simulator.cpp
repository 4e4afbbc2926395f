#include <gtest/gtest.h>

#include <cstring>

#include "v2x/sim/simulator.hpp"

using namespace v2x::sim;
using v2x::ConfigError;
using v2x::SensorSet;
using v2x::validate_config;

namespace {
void expect_same_frames(const v2x::CoopFrame& a, const v2x::CoopFrame& b) {
  ASSERT_EQ(a.agents.size(), b.agents.size());
  EXPECT_EQ(a.timestamp, b.timestamp);
  EXPECT_EQ(a.ego, b.ego);
  for (std::size_t k = 0; k < a.agents.size(); ++k) {
    const auto& x = a.agents[k];
    const auto& y = b.agents[k];
    EXPECT_EQ(x.id, y.id);
    ASSERT_EQ(x.cloud.size(), y.cloud.size());
    EXPECT_EQ(0, std::memcmp(x.cloud.x.data(), y.cloud.x.data(), x.cloud.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(x.cloud.y.data(), y.cloud.y.data(), x.cloud.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(x.cloud.z.data(), y.cloud.z.data(), x.cloud.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(x.cloud.intensity.data(), y.cloud.intensity.data(), x.cloud.size() * sizeof(float)));
    EXPECT_TRUE(x.T_world_lidar.matrix() == y.T_world_lidar.matrix());
    EXPECT_TRUE(x.T_world_lidar_noisy->matrix() == y.T_world_lidar_noisy->matrix());
    ASSERT_EQ(x.labels_world.size(), y.labels_world.size());
    for (std::size_t i = 0; i < x.labels_world.size(); ++i) {
      EXPECT_EQ(x.labels_world[i].id, y.labels_world[i].id);
      EXPECT_EQ(x.labels_world[i].lidar_points, y.labels_world[i].lidar_points);
      EXPECT_EQ(x.labels_world[i].box.center, y.labels_world[i].box.center);
    }
    ASSERT_EQ(x.cameras.size(), y.cameras.size());
    for (std::size_t c = 0; c < x.cameras.size(); ++c) {
      EXPECT_EQ(x.cameras[c].image.rgb, y.cameras[c].image.rgb);
      EXPECT_EQ(x.cameras[c].depth->depth_m, y.cameras[c].depth->depth_m);
    }
  }
}
}  // namespace

TEST(Simulator, SameSeedGivesIdenticalFrames) {
  Simulator a(preset("tiny"), 5), b(preset("tiny"), 5);
  for (int k = 0; k < 3; ++k) expect_same_frames(a.step(), b.step());
}

TEST(Simulator, DifferentSeedsGiveDifferentFrames) {
  Simulator a(preset("tiny"), 5), b(preset("tiny"), 6);
  const auto fa = a.step(), fb = b.step();
  EXPECT_TRUE(fa.agents[0].cloud.size() != fb.agents[0].cloud.size() || fa.agents[0].cloud.x != fb.agents[0].cloud.x);
}

TEST(Simulator, OutputDoesNotDependOnThreadCount) {
  SimConfig cfg = preset("tiny");
  cfg.agents.cameras.enabled = true;
  cfg.agents.cameras.count = 2;
  Simulator a(cfg, 8), b(cfg, 8);
  b.set_threads(3);
  for (int k = 0; k < 2; ++k) expect_same_frames(a.step(), b.step());
}

TEST(Simulator, FrameHasConnectedVehiclesThenRsusAndTheEgoFirst) {
  Simulator sim(preset("tiny"), 2);
  const auto f = sim.step();
  ASSERT_EQ(f.agents.size(), 3u);
  EXPECT_EQ(f.ego, f.agents[0].id);
  EXPECT_FALSE(f.agents[0].is_rsu);
  EXPECT_FALSE(f.agents[1].is_rsu);
  EXPECT_TRUE(f.agents[2].is_rsu);
  EXPECT_LT(f.agents[2].id, 0);
  EXPECT_EQ(f.scenario, "tiny_seed2");
  EXPECT_EQ(f.timestamp, "000000");
  const auto f2 = sim.step();
  EXPECT_EQ(f2.stamp_ns, kLidarPeriodNs);
  EXPECT_EQ(f2.timestamp, "000002");
  for (const auto& a : f.agents) {
    EXPECT_GT(a.cloud.size(), 1000u);
    ASSERT_TRUE(a.T_world_lidar_noisy.has_value());
    for (const auto& o : a.labels_world) EXPECT_NE(o.id, a.id);  // never labels itself
  }
  // Connected vehicles appear in the others' ground truth.
  bool cav_in_gt = false;
  for (const auto& o : f.gt_world) cav_in_gt = cav_in_gt || o.id == f.agents[1].id;
  EXPECT_TRUE(cav_in_gt);
}

TEST(Simulator, VisibilityCountsEqualPointsInsideBoxes) {
  Simulator sim(preset("tiny"), 3);
  sim.step();
  const auto f = sim.step();
  int visible = 0;
  for (const auto& a : f.agents) {
    for (const auto& o : a.labels_world) {
      int n = 0;
      for (std::size_t i = 0; i < a.cloud.size(); ++i)
        n += o.box.contains(a.T_world_lidar * Eigen::Vector3d(a.cloud.x[i], a.cloud.y[i], a.cloud.z[i]));
      EXPECT_EQ(o.lidar_points, n) << "agent " << a.id << " object " << o.id;
      visible += n > 0;
    }
  }
  EXPECT_GT(visible, 3);
}

TEST(Simulator, NoReturnComesFromBehindAnOpaqueSurface) {
  Simulator sim(preset("tiny"), 4);
  const auto f = sim.step();
  const auto& w = sim.world();
  for (const auto& a : f.agents) {
    const Eigen::Vector3f o = a.T_world_lidar.translation().cast<float>();
    int checked = 0;
    for (std::size_t i = 0; i < a.cloud.size(); i += 7) {
      const Eigen::Vector3f p = (a.T_world_lidar * Eigen::Vector3d(a.cloud.x[i], a.cloud.y[i], a.cloud.z[i])).cast<float>();
      const float dist = (p - o).norm();
      if (dist < 3.f) continue;
      Ray r;
      r.origin = o;
      r.dir = (p - o) / dist;
      const SceneHit h = cast_ray(w, r, 0.5f, dist - 0.3f, a.is_rsu ? Bvh::kNoOwner : a.id);
      // Only foliage lets beams through.
      if (h.valid()) {
        ASSERT_EQ(h.material, Material::Foliage) << "point " << i << " of agent " << a.id << " is behind a surface";
      }
      ++checked;
    }
    EXPECT_GT(checked, 100);
  }
}

TEST(Simulator, CamerasRenderRgbAndDepth) {
  SimConfig cfg = preset("tiny");
  cfg.agents.cameras.enabled = true;
  Simulator sim(cfg, 1);
  const auto f = sim.step();
  const auto& cams = f.agents[0].cameras;
  ASSERT_EQ(cams.size(), 4u);
  const auto& img = cams[0].image;
  EXPECT_EQ(img.width, 160);
  EXPECT_EQ(img.height, 120);
  ASSERT_TRUE(cams[0].depth.has_value());
  // Top row looks at the sky (depth 0), bottom row at the ground a few metres away.
  EXPECT_EQ(cams[0].depth->depth_m[80], 0.f);
  const float bottom = cams[0].depth->depth_m[119 * 160 + 80];
  EXPECT_GT(bottom, 0.5f);
  EXPECT_LT(bottom, 10.f);
  ASSERT_TRUE(cams[0].calib.T_world_camera.has_value());
}

TEST(Simulator, PerAgentSensorsMakeAHeterogeneousFleet) {
  // tiny: 2 CAVs + 1 RSU. Ego LiDAR+camera, a camera-only car, the RSU as default (LiDAR; cameras off).
  SimConfig plain = preset("tiny");
  SimConfig hetero = plain;
  hetero.agents.cameras.count = 2;
  hetero.agents.sensors = {SensorSet::LidarCamera, SensorSet::Camera};
  Simulator a(plain, 4), b(hetero, 4);
  for (int k = 0; k < 2; ++k) {
    const auto fa = a.step(), fb = b.step();
    ASSERT_EQ(fb.agents.size(), 3u);
    EXPECT_EQ(fb.agents[0].cameras.size(), 2u);
    EXPECT_EQ(fb.agents[0].cloud.x, fa.agents[0].cloud.x);  // the rig of one agent changes no one else's data
    EXPECT_TRUE(fb.agents[1].cloud.empty());
    EXPECT_EQ(fb.agents[1].cameras.size(), 2u);
    for (const auto& o : fb.agents[1].labels_world) EXPECT_EQ(o.lidar_points, 0);
    EXPECT_TRUE(fb.agents[2].cameras.empty());
    EXPECT_EQ(fb.agents[2].cloud.x, fa.agents[2].cloud.x);
  }
  // The master switch turns every camera off (the trainer's skipped steps).
  b.set_cameras_enabled(false);
  for (const auto& ag : b.step().agents) EXPECT_TRUE(ag.cameras.empty());
}

TEST(SimConfig, SensorListIsCheckedAgainstTheFleet) {
  SimConfig c = preset("tiny");
  c.agents.sensors = {SensorSet::Lidar, SensorSet::Lidar, SensorSet::Lidar, SensorSet::Lidar};
  EXPECT_THROW(validate_config(c, "t.yaml"), ConfigError);  // 4 entries, 3 agents
  c.agents.sensors = {SensorSet::Lidar, SensorSet::None};
  try {
    validate_config(c, "t.yaml");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("agents.sensors[1]"), std::string::npos) << e.what();
  }
}

TEST(CountPointsInBoxes, MatchesBruteForce) {
  v2x::Rng rng(2);
  std::vector<v2x::Box3D> boxes;
  for (int i = 0; i < 50; ++i) {
    v2x::Box3D b;
    b.center = {rng.uniform(-40, 40), rng.uniform(-40, 40), 1};
    b.l_m = rng.uniform(0.5, 12), b.w_m = rng.uniform(0.5, 3), b.h_m = 2, b.yaw_rad = rng.uniform(-3, 3);
    boxes.push_back(b);
  }
  std::vector<Eigen::Vector3d> pts;
  for (int i = 0; i < 20000; ++i) pts.emplace_back(rng.uniform(-45, 45), rng.uniform(-45, 45), rng.uniform(-0.5, 2.5));
  const auto counts = count_points_in_boxes(boxes, pts);
  int total = 0;
  for (std::size_t b = 0; b < boxes.size(); ++b) {
    int n = 0;
    for (const auto& p : pts) n += boxes[b].contains(p);
    EXPECT_EQ(counts[b], n);
    total += n;
  }
  EXPECT_GT(total, 100);
}
