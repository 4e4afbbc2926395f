// Fusion micro-benchmarks: one ego frame fused with N peers, on 2 threads (at::set_num_threads(2)).
// Inputs are synthetic but sized like the runtime's: the default detector feature grid (128 × 64 cells of 0.8 m,
// C = 64), 100 ego proposals with features, each peer sending 32 anchors + the cells that fit 16 KB at INT8
// (top-confidence cells around its objects). Weights are untrained (timing does not depend on their values).
#include <benchmark/benchmark.h>

#include <ATen/Parallel.h>

#include "v2x/core/rng.hpp"
#include "v2x/fusion/fusers.hpp"
#include "v2x/selection/selector.hpp"

using namespace v2x;
using namespace v2x::fusion;

namespace {

constexpr int kC = 64;
BevGrid grid() { return BevGrid{-51.2, 51.2, -25.6, 25.6, 0.8}; }

Box3D car(double x, double y, double yaw) {
  Box3D b;
  b.center = {x, y, -1};
  b.l_m = 4.2, b.w_m = 1.8, b.h_m = 1.6, b.yaw_rad = yaw;
  return b;
}

FeatureMap random_map(Rng& r) {
  const BevGrid g = grid();
  FeatureMap m(kC, g.height(), g.width());
  m.grid = g;
  for (auto& v : m.data) v = r.uniform() < 0.3 ? static_cast<float>(r.uniform()) : 0.f;
  m.confidence.resize(m.cells());
  for (auto& v : m.confidence) v = static_cast<float>(r.uniform());
  return m;
}

struct Scene {
  FeatureMap ego_map;
  std::vector<SparseAnchor> proposals;
  DetectionList local;
  std::vector<FeatureMap> peer_maps;
  std::vector<PeerInput> peers;
  EgoInput ego() const {
    EgoInput e;
    e.features = &ego_map;
    e.proposals = &proposals;
    e.local = &local;
    return e;
  }
};

Scene make_scene(int num_peers) {
  Rng r(7);
  Scene s;
  s.ego_map = random_map(r);
  std::vector<Box3D> world;
  for (int i = 0; i < 60; ++i) world.push_back(car(r.uniform(-48, 48), r.uniform(-24, 24), r.uniform(-3, 3)));
  for (int i = 0; i < 100; ++i) {
    const Box3D b = i < 60 ? world[i] : car(r.uniform(-48, 48), r.uniform(-24, 24), r.uniform(-3, 3));
    std::vector<float> f(kC);
    for (auto& v : f) v = static_cast<float>(r.uniform());
    s.proposals.push_back(SparseAnchor{b, static_cast<float>(r.uniform(0.1, 1.0)), f});
    if (s.proposals.back().score > 0.3f) s.local.detections.push_back(Detection{b, s.proposals.back().score});
  }
  selection::BudgetConfig budget;
  budget.budget_bytes = 16384;
  budget.max_anchors = 32;
  selection::TopKSelector sel(budget, selection::TopKConfig{});
  for (int p = 0; p < num_peers; ++p) {
    const Pose T_world_peer = planar_pose(r.uniform(-30, 30), r.uniform(-15, 15), 0, r.uniform(-3, 3));
    s.peer_maps.push_back(random_map(r));
    std::vector<SparseAnchor> anchors;
    for (int i = 0; i < 40; ++i) {
      std::vector<float> f(kC);
      for (auto& v : f) v = static_cast<float>(r.uniform());
      anchors.push_back(SparseAnchor{world[i].transformed(T_world_peer.inverse()), 0.8f, f});
    }
    const selection::SelectionInput in(&s.peer_maps.back(), T_world_peer, anchors);
    const auto res = sel.select(in);
    PeerInput pi;
    pi.msg = selection::make_sparse_features(s.peer_maps.back(), res, T_world_peer, anchors, 0, Quantization::Int8);
    pi.age_ns = 100 * kNsPerMs;
    s.peers.push_back(std::move(pi));
  }
  return s;
}

FusionConfig bench_config() {
  FusionConfig c;
  c.align.check_pose = false;  // random scenes: the consistency check would drop peers
  c.anchor.max_peers = 16;
  return c;
}

void BM_AnchorFusion(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(1)));
  const Scene s = make_scene(static_cast<int>(state.range(0)) - 1);
  const FusionConfig cfg = bench_config();
  torch::manual_seed(1);
  AnchorFusion f(cfg, AnchorFusionNet(cfg.anchor, kC));
  FusionStats st;
  std::size_t n = 0;
  for (auto _ : state) {
    const auto out = f.fuse(s.ego(), s.peers, &st);
    n = out.detections.size();
    benchmark::DoNotOptimize(n);
  }
  const auto q = build_anchor_queries(s.ego(), align_peers(s.ego(), s.peers, cfg.align, requirements_from(s.ego()), nullptr), cfg);
  state.counters["agents"] = static_cast<double>(state.range(0));
  state.counters["queries"] = static_cast<double>(q.num_queries());
  state.counters["keys"] = static_cast<double>(q.k_mask.size(1));
  state.counters["cells_per_peer"] = s.peers.empty() ? 0.0 : static_cast<double>(s.peers[0].msg.num_cells());
}
// args: agents, threads
BENCHMARK(BM_AnchorFusion)->Args({2, 2})->Args({4, 2})->Args({8, 2})->Args({16, 2})->Args({4, 1})->Unit(benchmark::kMillisecond);

// Breakdown at 4 agents: query/key construction alone, and the network alone.
void BM_AnchorFusionBuildQueries(benchmark::State& state) {
  at::set_num_threads(2);
  const Scene s = make_scene(3);
  const FusionConfig cfg = bench_config();
  for (auto _ : state) {
    const auto aligned = align_peers(s.ego(), s.peers, cfg.align, requirements_from(s.ego()), nullptr);
    auto q = build_anchor_queries(s.ego(), aligned, cfg);
    benchmark::DoNotOptimize(q.q_box.data_ptr());
  }
}
BENCHMARK(BM_AnchorFusionBuildQueries)->Unit(benchmark::kMillisecond);

void BM_AnchorFusionNetwork(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  const Scene s = make_scene(3);
  const FusionConfig cfg = bench_config();
  const auto q = build_anchor_queries(s.ego(), align_peers(s.ego(), s.peers, cfg.align, requirements_from(s.ego()), nullptr), cfg);
  AnchorFusionNet net(cfg.anchor, kC);
  net->eval();
  torch::NoGradGuard ng;
  for (auto _ : state) {
    auto out = net->forward(q);
    benchmark::DoNotOptimize(out.logits.back().data_ptr());
  }
}
BENCHMARK(BM_AnchorFusionNetwork)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);  // arg: threads

void BM_LateFusion(benchmark::State& state) {
  const Scene s = make_scene(static_cast<int>(state.range(0)) - 1);
  LateFusion f(bench_config());
  for (auto _ : state) benchmark::DoNotOptimize(f.fuse(s.ego(), s.peers, nullptr).detections.size());
}
BENCHMARK(BM_LateFusion)->Arg(4)->Unit(benchmark::kMillisecond);

// Dense warp + max of 4 agents (without the head, which is the detector's cost).
void BM_MaxFuseWarp(benchmark::State& state) {
  at::set_num_threads(2);
  const Scene s = make_scene(static_cast<int>(state.range(0)) - 1);
  const FusionConfig cfg = bench_config();
  torch::NoGradGuard ng;
  for (auto _ : state) {
    const auto aligned = align_peers(s.ego(), s.peers, cfg.align, requirements_from(s.ego()), nullptr);
    auto m = max_fuse(stack_dense(s.ego_map, aligned, WarpMode::Nearest));
    benchmark::DoNotOptimize(m.data_ptr());
  }
}
BENCHMARK(BM_MaxFuseWarp)->Arg(4)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
