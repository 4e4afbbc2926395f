// run_replay over an in-memory cooperative dataset with the test doubles of runtime_fakes.hpp: the replay
// plumbing (agents, transports, latency, noise, GT, report, dump), not the learned models.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "runtime_fakes.hpp"
#include "v2x/apps/replay.hpp"

using namespace v2x;
using namespace v2x::apps;
using namespace v2x::test;

namespace {

// World: static vehicles at cell centres of every agent's fake grid (agents sit on multiples of 0.8 m, yaw 0).
// Each agent sees the vehicles within 12 m as dense point blobs. Some vehicles only a peer sees.
class FakeDataset final : public sensors::CoopDataset {
 public:
  FakeDataset(int scenarios, int frames, const char* format = "opv2v") : format_(format) {
    const std::vector<Eigen::Vector2d> objects{{4.4, 2.0}, {-7.6, -4.4}, {28.4, 4.4}, {20.4, -5.2}, {13.2, 18.0},
                                               {9.2, 24.4}};
    struct A {
      AgentId id;
      double x, y;
      bool rsu;
    };
    const std::vector<A> agents{{1, 0, 0, false}, {2, 24.0, 0, false}, {-1, 12.8, 20.0, true}};
    for (int s = 0; s < scenarios; ++s)
      for (int k = 0; k < frames; ++k) {
        CoopFrame f;
        f.scenario = "scene" + std::to_string(s);
        f.timestamp = std::to_string(k);
        f.stamp_ns = k * 100 * kNsPerMs;
        f.ego = 1;
        Rng rng = Rng(7).fork(static_cast<std::uint64_t>(s * 100 + k));
        for (std::size_t o = 0; o < objects.size(); ++o) {
          Object3D g;
          g.box.center = Eigen::Vector3d(objects[o].x(), objects[o].y(), 1.8 - 0.75);
          g.box.l_m = 4.0, g.box.w_m = 1.8, g.box.h_m = 1.5;
          g.id = static_cast<std::int64_t>(o);
          f.gt_world.push_back(g);
        }
        for (const A& a : agents) {
          if (format_ == std::string("kitti") && a.id != 1) continue;
          AgentFrame af;
          af.id = a.id;
          af.is_rsu = a.rsu;
          af.stamp_ns = f.stamp_ns;
          af.T_world_lidar = planar_pose(a.x, a.y, 1.8, 0.0);
          for (int p = 0; p < 300; ++p)
            af.cloud.push_back(static_cast<float>(rng.uniform(-12, 12)), static_cast<float>(rng.uniform(-12, 12)),
                               -1.75f, 0.2f);
          for (const auto& o : objects) {
            const double lx = o.x() - a.x, ly = o.y() - a.y;
            if (std::hypot(lx, ly) > 12.0) continue;
            for (int p = 0; p < 100; ++p)
              af.cloud.push_back(static_cast<float>(lx + rng.uniform(-0.2, 0.2)),
                                 static_cast<float>(ly + rng.uniform(-0.2, 0.2)),
                                 static_cast<float>(rng.uniform(-1.5, 0.0)), 0.6f);
          }
          f.agents.push_back(std::move(af));
        }
        frames_.push_back(std::move(f));
      }
  }
  std::size_t size() const override { return frames_.size(); }
  sensors::FrameRef ref(std::size_t i) const override {
    sensors::FrameRef r{frames_[i].scenario, frames_[i].timestamp, {}};
    for (const auto& a : frames_[i].agents) r.agents.push_back(a.id);
    return r;
  }
  Expected<CoopFrame> load(std::size_t i) const override {
    if (i == broken) return make_error(ErrorCode::Corrupt, "broken on purpose");
    return frames_[i];
  }
  const char* format() const override { return format_; }
  std::size_t broken = static_cast<std::size_t>(-1);

 private:
  const char* format_;
  std::vector<CoopFrame> frames_;
};

ReplayResources fake_resources(fusion::FusionMethod m) {
  ReplayResources r;
  r.perception = std::make_shared<FakePerception>();
  r.make_fuser = [m] { return std::make_unique<RecordingFuser>(m); };
  return r;
}

ReplayConfig replay_config(fusion::FusionMethod m) {
  ReplayConfig c;
  c.node.fusion = m;
  c.node.selection.kind = selection::SelectorKind::TopK;
  c.node.selection.budget.budget_bytes = 4096;
  c.min_lidar_points = 10;
  return c;
}

double ap(const detection::EvalReport& r, double thr) {
  for (auto [t, v] : r.ap)
    if (t == thr) return v;
  return -1;
}

ReplayOutputs quiet() {
  ReplayOutputs o;
  o.progress = false;
  return o;
}

}  // namespace

TEST(Replay, ReportHasEveryFieldOfTheArchitectureAndTheDumpOneLinePerFrame) {
  const auto dir = std::filesystem::temp_directory_path() / "v2x_test_replay_report";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  FakeDataset ds(2, 3);
  ReplayOutputs out = quiet();
  out.report_path = (dir / "r.json").string();
  out.dump_path = (dir / "d.jsonl").string();
  out.viz_dir = (dir / "viz").string();
  run_replay(ds, replay_config(fusion::FusionMethod::Late), fake_resources(fusion::FusionMethod::Late), out);

  std::ifstream in(out.report_path);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j.at("frames"), 6);
  EXPECT_EQ(j.at("agents"), 3);
  EXPECT_EQ(j.at("method"), "late");
  for (const char* k : {"ap", "ap_global_sort"})
    for (const char* t : {"0.3", "0.5", "0.7"}) EXPECT_TRUE(j.at(k).at(t).is_number()) << k << " " << t;
  for (const char* k : {"mean", "p95", "max"}) EXPECT_GT(j.at("bytes_per_message").at(k).get<double>(), 0.0) << k;
  for (const char* s : {"encode", "select", "pack", "transport", "decode", "fuse", "detect", "total"})
    for (const char* q : {"median", "p99"}) EXPECT_TRUE(j.at("latency_ms").at(s).at(q).is_number()) << s;
  for (const char* k : {"stale", "corrupt", "unauthenticated"}) EXPECT_EQ(j.at("dropped").at(k), 0) << k;
  EXPECT_TRUE(j.at("ap_min10_points").at("0.5").is_number());

  // The dump recomputes the same AP.
  const auto from_dump = detection::evaluate_dump(out.dump_path);
  EXPECT_EQ(from_dump.frames, 6);
  EXPECT_DOUBLE_EQ(from_dump.ap[1], j.at("ap").at("0.5").get<double>());
  std::size_t pngs = 0;
  for (const auto& e : std::filesystem::directory_iterator(out.viz_dir)) pngs += e.path().extension() == ".png";
  EXPECT_EQ(pngs, 6u);
  std::filesystem::remove_all(dir);
}

TEST(Replay, LateFusionFindsVehiclesOnlyPeersSee) {
  FakeDataset ds(1, 3);
  const auto none = run_replay(ds, replay_config(fusion::FusionMethod::None), fake_resources(fusion::FusionMethod::None),
                               quiet());
  const auto late = run_replay(ds, replay_config(fusion::FusionMethod::Late), fake_resources(fusion::FusionMethod::Late),
                               quiet());
  EXPECT_EQ(none.bytes_per_message.mean, 0.0);
  EXPECT_GT(late.bytes_per_message.mean, 0.0);
  EXPECT_LE(late.bytes_per_message.max, 4096.0);
  EXPECT_GT(ap(none, 0.5), 0.0);
  EXPECT_GT(ap(late, 0.5), ap(none, 0.5) + 0.2);
  EXPECT_DOUBLE_EQ(late.extra.at("peers_used_mean").get<double>(), 2.0);
}

TEST(Replay, LatencyDeliversThePeersPreviousFrame) {
  FakeDataset ds(2, 4);
  ReplayConfig c = replay_config(fusion::FusionMethod::Late);
  c.latency_ms = 100;
  const auto r = run_replay(ds, c, fake_resources(fusion::FusionMethod::Late), quiet());
  // Frame 0 of each scenario hears nobody yet; frames 1..3 hear both peers: (0 + 2 + 2 + 2) / 4.
  EXPECT_DOUBLE_EQ(r.extra.at("peers_heard_mean").get<double>(), 1.5);
  EXPECT_EQ(r.dropped.stale, 0);
}

TEST(Replay, PoseNoiseIsSeededAndZeroNoiseIsExact) {
  const Pose T = planar_pose(10, -5, 1.8, 0.3);
  EXPECT_TRUE(believed_pose(T, {}, 1, 0, 1).isApprox(T));
  PoseNoiseConfig n{0.2, 0.2};
  const Pose a = believed_pose(T, n, 1, 5, 2), b = believed_pose(T, n, 1, 5, 2), c = believed_pose(T, n, 1, 5, 3);
  EXPECT_TRUE(a.isApprox(b));
  EXPECT_FALSE(a.isApprox(c));
  double sxx = 0;
  const int N = 4000;
  for (int i = 0; i < N; ++i) {
    const Pose p = believed_pose(T, n, 9, static_cast<std::uint64_t>(i), 4);
    sxx += std::pow(p.translation().x() - 10, 2);
    EXPECT_NEAR(p.translation().z(), 1.8, 1e-12);
  }
  EXPECT_NEAR(std::sqrt(sxx / N), 0.2, 0.02);
}

TEST(Replay, FusersAreToldThePoseNoiseTheReplayApplies) {
  ReplayConfig cfg;  // a node's defaults assume σ 0.2 m / 0.2° for vehicles, 0.02 m for RSUs
  set_fusion_pose_sigmas(cfg);  // a clean replay: exact poses for every agent
  EXPECT_EQ(cfg.node.fusion_config.align.pose_sigma_m, 0.0);
  EXPECT_EQ(cfg.node.fusion_config.align.rsu_pose_sigma_m, 0.0);
  EXPECT_EQ(cfg.node.fusion_config.align.pose_sigma_yaw_deg, 0.0);
  cfg.pose_noise = PoseNoiseConfig{0.3, 0.5};  // RSU poses are perturbed as much as vehicle poses
  set_fusion_pose_sigmas(cfg);
  EXPECT_EQ(cfg.node.fusion_config.align.pose_sigma_m, 0.3);
  EXPECT_EQ(cfg.node.fusion_config.align.rsu_pose_sigma_m, 0.3);
  EXPECT_EQ(cfg.node.fusion_config.align.pose_sigma_yaw_deg, 0.5);
}

TEST(Replay, SkipsFramesThatFailToLoad) {
  FakeDataset ds(1, 3);
  ds.broken = 1;
  const auto r = run_replay(ds, replay_config(fusion::FusionMethod::None), fake_resources(fusion::FusionMethod::None),
                            quiet());
  EXPECT_EQ(r.frames, 2);
  EXPECT_EQ(r.extra.at("frames_skipped"), 1);
}

TEST(Replay, KittiRunsOnlyWithoutFusion) {
  FakeDataset ds(1, 2, "kitti");
  EXPECT_THROW(run_replay(ds, replay_config(fusion::FusionMethod::Late), fake_resources(fusion::FusionMethod::Late),
                          quiet()),
               ConfigError);
  const auto r = run_replay(ds, replay_config(fusion::FusionMethod::None), fake_resources(fusion::FusionMethod::None),
                            quiet());
  EXPECT_EQ(r.agents, 1);
}

TEST(Replay, CountsPointsInsideRotatedBoxes) {
  PointCloud c;
  c.push_back(1.9f, 0.f, 0.f, 0.f);   // inside the unrotated 4 m box, outside when rotated 90°
  c.push_back(0.f, 0.8f, 0.f, 0.f);   // inside both
  c.push_back(0.f, 1.5f, 0.f, 0.f);   // inside the rotated box only
  Box3D b;
  b.l_m = 4, b.w_m = 2, b.h_m = 2;
  Box3D r = b;
  r.yaw_rad = M_PI / 2;
  EXPECT_EQ(count_points_in_boxes(c, {b, r}), (std::vector<int>{2, 2}));
}

TEST(Replay, PerAgentSensorsLeaveAgentsOutOrBlindThem) {
  FakeDataset ds(1, 3);
  // Agent order in the dataset: ego 1, car 2, RSU -1. `none` leaves the car out: it neither senses nor sends.
  ReplayConfig c = replay_config(fusion::FusionMethod::Late);
  c.sensors = {SensorSet::Lidar, SensorSet::None, SensorSet::Lidar};
  const auto without_car = run_replay(ds, c, fake_resources(fusion::FusionMethod::Late), quiet());
  EXPECT_DOUBLE_EQ(without_car.extra.at("peers_used_mean").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(without_car.extra.at("agents_mean").get<double>(), 2.0);
  const auto all = run_replay(ds, replay_config(fusion::FusionMethod::Late), fake_resources(fusion::FusionMethod::Late),
                              quiet());
  EXPECT_LT(ap(without_car, 0.5), ap(all, 0.5));  // the car's own vehicles are missed

  // The ego cannot be left out.
  c.sensors = {SensorSet::None};
  EXPECT_THROW(run_replay(ds, c, fake_resources(fusion::FusionMethod::Late), quiet()), ConfigError);
  // Cameras without a camera model: rejected at validation, naming the entry.
  c.sensors = {SensorSet::Lidar, SensorSet::Camera};
  try {
    validate_config(c, "r.yaml");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sensors[1]"), std::string::npos) << e.what();
  }
}
