// Detection micro-benchmarks: rotated NMS, target assignment, head decoding, exact BEV IoU.
// Results: docs/results.md, section "Detection (anchors, assignment, NMS, decoding)".
#include <benchmark/benchmark.h>

#include <cmath>
#include <numbers>
#include <random>

#include "v2x/detection/decoder.hpp"
#include "v2x/detection/nms.hpp"
#include "v2x/detection/target_assigner.hpp"

using namespace v2x;
using namespace v2x::detection;

namespace {
// 176 × 176 output map, 2 anchors per cell: x, y in [-70.4, 70.4), 0.8 m cells.
AnchorConfig grid176() {
  AnchorConfig c;
  c.x_min_m = -70.4;
  c.x_max_m = 70.4;
  c.y_min_m = -70.4;
  c.y_max_m = 70.4;
  c.cell_m = 0.8;
  return c;
}
std::vector<Box3D> vehicles(std::mt19937& rng, int n, double extent_m) {
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<Box3D> out;
  for (int i = 0; i < n; ++i) {
    Box3D b;
    b.center = {extent_m * u(rng), extent_m * u(rng), -1.0};
    b.l_m = 4.3 + 0.6 * u(rng);
    b.w_m = 1.85 + 0.15 * u(rng);
    b.h_m = 1.6;
    b.yaw_rad = std::numbers::pi * u(rng);
    out.push_back(b);
  }
  return out;
}
}  // namespace

// 500 proposals: 50 vehicles × 10 jittered proposals each (the realistic case: most suppressions are local).
static void BM_NmsRotated500(benchmark::State& state) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> u(-1, 1), s(0, 1);
  const auto objs = vehicles(rng, 50, 60);
  std::vector<Box3D> boxes;
  std::vector<float> scores;
  for (const Box3D& o : objs)
    for (int k = 0; k < 10; ++k) {
      Box3D b = o;
      b.center.x() += 0.5 * u(rng);
      b.center.y() += 0.5 * u(rng);
      b.yaw_rad += 0.2 * u(rng);
      boxes.push_back(b);
      scores.push_back(static_cast<float>(s(rng)));
    }
  std::size_t kept = 0;
  for (auto _ : state) {
    auto keep = nms_rotated(boxes, scores, 0.15, 1000);
    kept = keep.size();
    benchmark::DoNotOptimize(keep.data());
  }
  state.counters["kept"] = static_cast<double>(kept);
}
BENCHMARK(BM_NmsRotated500)->Unit(benchmark::kMillisecond);

// Target assignment: 176 × 176 × 2 anchors, 50 GT vehicles inside the map.
static void BM_AssignTargets176x176x2_50gt(benchmark::State& state) {
  std::mt19937 rng(2);
  const TargetAssigner ta(grid176());
  const auto gt = vehicles(rng, 50, 68);
  AssignmentTargets out;
  ta.assign(gt, out);  // warm the buffers (the data loader reuses them)
  for (auto _ : state) {
    ta.assign(gt, out);
    benchmark::DoNotOptimize(out.labels.data());
  }
  state.counters["positives"] = out.num_positive;
}
BENCHMARK(BM_AssignTargets176x176x2_50gt)->Unit(benchmark::kMillisecond);

// Decoding: 176 × 176 × 2 logits, 50 vehicles each lighting up ~6 anchors, 0.2 threshold, NMS, top 100.
static void BM_Decode176x176x2(benchmark::State& state) {
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.f, 0.5f);
  const TargetAssigner ta(grid176());
  const AnchorGrid& g = ta.anchors();
  const auto gt = vehicles(rng, 50, 68);
  AssignmentTargets t;
  ta.assign(gt, t);
  std::vector<float> cls(g.size()), box(g.size() * 7), dir(g.size() * 2, 0.f);
  for (std::int64_t i = 0; i < g.size(); ++i) {
    cls[i] = -4.f + noise(rng);
    for (int k = 0; k < 7; ++k) box[7 * i + k] = 0.1f * noise(rng);
  }
  for (std::int64_t i : t.positives) {
    cls[i] = 1.5f + noise(rng);
    for (int k = 0; k < 7; ++k) box[7 * i + k] = t.box_targets[7 * i + k] + 0.05f * noise(rng);
    dir[2 * i + t.dir_targets[i]] = 2.f;
  }
  const DecodeConfig cfg;
  const BoxCoderConfig coder;
  std::size_t kept = 0;
  DecodeStats st;
  for (auto _ : state) {
    auto props = decode_head(g, cls.data(), box.data(), dir.data(), cfg, coder, &st);
    kept = props.size();
    benchmark::DoNotOptimize(props.data());
  }
  state.counters["candidates"] = st.above_threshold;
  state.counters["kept"] = static_cast<double>(kept);
}
BENCHMARK(BM_Decode176x176x2)->Unit(benchmark::kMillisecond);

// One exact rotated BEV IoU (core, Boost.Geometry) of two overlapping boxes.
static void BM_BevIouExact(benchmark::State& state) {
  std::mt19937 rng(4);
  auto a = vehicles(rng, 1, 0)[0], b = a;
  b.center.x() += 0.7;
  b.yaw_rad += 0.3;
  for (auto _ : state) benchmark::DoNotOptimize(bev_iou(a, b));
}
BENCHMARK(BM_BevIouExact);

BENCHMARK_MAIN();
