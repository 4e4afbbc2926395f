#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "v2x/detection/report.hpp"

using namespace v2x;
using namespace v2x::detection;

TEST(Percentile, MedianAndP99InterpolateLinearly) {
  PercentileAccumulator acc;
  for (int i = 100; i >= 1; --i) acc.add(i);
  EXPECT_DOUBLE_EQ(acc.median(), 50.5);
  EXPECT_NEAR(acc.p99(), 99.01, 1e-9);
  EXPECT_DOUBLE_EQ(acc.mean(), 50.5);
  EXPECT_DOUBLE_EQ(acc.max(), 100);
  EXPECT_DOUBLE_EQ(PercentileAccumulator{}.p99(), 0.0);
}

TEST(Report, JsonHasArchitectureFields) {
  EvalReport r;
  r.frames = 10;
  r.agents = 4;
  r.method = "none";
  ApSummary s;
  s.thresholds = {0.3, 0.5, 0.7};
  s.ap = {0.9, 0.8, 0.6};
  s.ap_global_sort = {0.91, 0.81, 0.61};
  r.set_ap(s);
  PercentileAccumulator bytes, enc;
  for (int i = 1; i <= 10; ++i) bytes.add(100 * i), enc.add(i);
  r.set_bytes(bytes);
  r.add_latency("encode", enc);
  r.add_latency("total", enc);
  r.dropped.stale = 2;
  r.extra["ap_min10_points"] = {{"0.5", 0.9}};
  const auto j = r.to_json();
  EXPECT_EQ(j["frames"], 10);
  EXPECT_EQ(j["agents"], 4);
  EXPECT_EQ(j["method"], "none");
  EXPECT_DOUBLE_EQ(j["ap"]["0.5"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(j["ap_global_sort"]["0.7"].get<double>(), 0.61);
  EXPECT_DOUBLE_EQ(j["bytes_per_message"]["mean"].get<double>(), 550);
  EXPECT_DOUBLE_EQ(j["bytes_per_message"]["max"].get<double>(), 1000);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["encode"]["median"].get<double>(), 5.5);
  EXPECT_TRUE(j["latency_ms"]["total"].contains("p99"));
  EXPECT_EQ(j["dropped"]["stale"], 2);
  EXPECT_EQ(j["dropped"]["corrupt"], 0);
  EXPECT_EQ(j["dropped"]["unauthenticated"], 0);
  EXPECT_DOUBLE_EQ(j["ap_min10_points"]["0.5"].get<double>(), 0.9);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"frames", "agents", "method", "ap", "ap_global_sort", "bytes_per_message",
                                            "latency_ms", "dropped", "ap_min10_points"}));
  const auto path = std::filesystem::temp_directory_path() / "v2x_test_report.json";
  write_report(r, path.string());
  std::ifstream f(path);
  EXPECT_EQ(nlohmann::ordered_json::parse(f), j);
  std::filesystem::remove(path);
  EXPECT_THROW(write_report(r, "/nonexistent_dir_v2x/report.json"), std::runtime_error);
}

namespace {
Box3D rnd_box(std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1, 1);
  Box3D b;
  b.center = {60 * u(rng), 20 * u(rng), -1 + 0.3 * u(rng)};
  b.l_m = 4 + u(rng);
  b.w_m = 1.8 + 0.2 * u(rng);
  b.h_m = 1.5;
  b.yaw_rad = 3.1 * u(rng);
  return b;
}
}  // namespace

TEST(Dump, RoundTripRecomputesIdenticalAp) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  EvalConfig cfg;
  cfg.min_lidar_points = 10;
  ApEvaluator ev(cfg);
  const auto path = std::filesystem::temp_directory_path() / "v2x_test_dump.jsonl";
  {
    DumpWriter w(path.string());
    for (int f = 0; f < 20; ++f) {
      std::vector<Object3D> gt;
      std::vector<Detection> dets;
      for (int k = 0; k < 8; ++k) {
        Object3D o;
        o.box = rnd_box(rng);
        o.lidar_points = static_cast<int>(40 * u(rng)) - 1;
        gt.push_back(o);
        if (u(rng) < 0.8) {  // a noisy detection of it
          Box3D b = o.box;
          b.center.x() += 0.6 * (u(rng) - 0.5);
          b.yaw_rad += 0.2 * (u(rng) - 0.5);
          dets.push_back({b, static_cast<float>(u(rng)), ObjectClass::Car});
        }
        if (u(rng) < 0.3) dets.push_back({rnd_box(rng), static_cast<float>(u(rng)), ObjectClass::Car});
      }
      const FrameEval fe = ev.add_frame(dets, gt);
      w.write("scenario_a/" + std::to_string(f), 42, fe);
    }
  }
  const ApSummary a = ev.summary();
  const ApSummary b = evaluate_dump(path.string(), cfg);
  EXPECT_EQ(a.ap, b.ap);
  EXPECT_EQ(a.ap_global_sort, b.ap_global_sort);
  EXPECT_EQ(a.num_gt, b.num_gt);
  EXPECT_EQ(a.num_gt_ignored, b.num_gt_ignored);
  EXPECT_NE(a.ap[1], a.ap_global_sort[1]);
  const auto recs = read_dump(path.string());
  ASSERT_EQ(recs.size(), 20u);
  EXPECT_EQ(recs[3].frame, "scenario_a/3");
  EXPECT_EQ(recs[3].ego, 42);
  std::filesystem::remove(path);
}

TEST(Dump, MalformedLineThrowsNamingFileAndLine) {
  const auto path = std::filesystem::temp_directory_path() / "v2x_test_bad_dump.jsonl";
  {
    std::ofstream f(path);
    f << R"({"frame": "s/1", "ego": 1, "detections": [], "gt": []})" << "\n\n";
    f << R"({"frame": "s/2", "ego": 1, "detections": [[1, 2, 3]], "gt": []})" << "\n";
  }
  try {
    read_dump(path.string());
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(":3:"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(read_dump("/nonexistent_v2x.jsonl"), std::runtime_error);
}
