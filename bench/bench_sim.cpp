// Simulator speed: LiDAR ray casting (rays/s per core), a whole 4-agent frame, scaling with objects and threads.
//   build-sim/bench/bench_sim --benchmark_counters_tabular=true
// Args of BM_LidarScan: background vehicles, blocks per side, threads. Thread counts above the machine's cores
// only show the oversubscription cost.
#include <benchmark/benchmark.h>

#include "v2x/sim/simulator.hpp"

using namespace v2x::sim;

namespace {

SimConfig urban_with_traffic(int vehicles, int blocks) {
  SimConfig c = preset("urban");
  c.town.blocks_x = c.town.blocks_y = blocks;
  c.traffic.vehicles = vehicles;
  c.traffic.pedestrians = 10 * blocks;
  c.traffic.warmup_s = 2;
  return c;
}

std::size_t object_count(const World& w) {
  // GT objects (moving + parked) plus scenery objects (~ static primitives / 3: buildings, trees, poles are 1–4 boxes).
  return w.actors().size() + w.static_bvh().prims().size() / 3;
}

// One HDL-64 revolution (64 × 1800 rays) from the ego, single thread; arg0 = background vehicles, arg1 = blocks.
void BM_LidarScan(benchmark::State& st) {
  const SimConfig cfg = urban_with_traffic(static_cast<int>(st.range(0)), static_cast<int>(st.range(1)));
  Simulator sim(cfg, 7);
  sim.step();
  const World& w = sim.world();
  LidarSensor lidar(cfg.agents.vehicle_lidar);
  const v2x::Pose T = sim.agent_lidar_pose(0);
  const int threads = static_cast<int>(st.range(2));
  std::size_t points = 0;
  for (auto _ : st) {
    LidarScan s = lidar.scan(w, T, w.actors()[w.connected()[0]].id, 1, threads);
    points += s.cloud.size();
    benchmark::DoNotOptimize(s.cloud.x.data());
  }
  st.SetItemsProcessed(static_cast<std::int64_t>(st.iterations() * lidar.rays_per_scan()));
  st.counters["rays_per_s"] = benchmark::Counter(static_cast<double>(st.iterations() * lidar.rays_per_scan()),
                                                 benchmark::Counter::kIsRate);
  st.counters["objects"] = static_cast<double>(object_count(w));
  st.counters["actors"] = static_cast<double>(w.actors().size());
  st.counters["prims"] = static_cast<double>(w.static_bvh().prims().size() + w.dynamic_bvh().prims().size());
  st.counters["points"] = static_cast<double>(points) / static_cast<double>(st.iterations());
}
BENCHMARK(BM_LidarScan)
    ->Args({80, 4, 1})
    ->Args({0, 4, 1})
    ->Args({200, 4, 1})
    ->Args({400, 6, 1})
    ->Args({80, 8, 1})
    ->Args({80, 4, 2})
    ->Args({80, 4, 4})
    ->Args({80, 4, 8})
    ->Args({80, 4, 16})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// A whole frame (traffic step + 4 × HDL-64 scans + labels), 4 connected vehicles, no cameras; arg0 = threads.
void BM_FourAgentFrame(benchmark::State& st) {
  SimConfig cfg = preset("urban");
  cfg.agents.connected_vehicles = 4;
  cfg.agents.rsus = 0;
  cfg.traffic.warmup_s = 2;
  Simulator sim(cfg, 7);
  sim.set_threads(static_cast<int>(st.range(0)));
  double lidar_ms = 0, world_ms = 0, labels_ms = 0;
  std::size_t rays = 0;
  for (auto _ : st) {
    v2x::CoopFrame f = sim.step();
    benchmark::DoNotOptimize(f.agents.data());
    lidar_ms += sim.last_stats().lidar_ms;
    world_ms += sim.last_stats().world_ms;
    labels_ms += sim.last_stats().labels_ms;
    rays += sim.last_stats().rays;
  }
  const auto n = static_cast<double>(st.iterations());
  st.counters["lidar_ms"] = lidar_ms / n;
  st.counters["traffic_ms"] = world_ms / n;
  st.counters["labels_ms"] = labels_ms / n;
  st.counters["rays"] = static_cast<double>(rays) / n;
  st.counters["objects"] = static_cast<double>(object_count(sim.world()));
}
BENCHMARK(BM_FourAgentFrame)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();

// Static BVH build for a whole town (done once per Simulator) and the per-step dynamic rebuild.
void BM_WorldBuild(benchmark::State& st) {
  const SimConfig cfg = urban_with_traffic(80, 4);
  SimConfig c = cfg;
  c.traffic.warmup_s = 0;
  for (auto _ : st) {
    World w(c, 3);
    benchmark::DoNotOptimize(w.static_bvh().node_count());
  }
}
BENCHMARK(BM_WorldBuild)->Unit(benchmark::kMillisecond)->UseRealTime();

// One camera 800 × 600 with shadows, single thread.
void BM_Camera(benchmark::State& st) {
  SimConfig cfg = preset("urban");
  cfg.traffic.warmup_s = 1;
  Simulator sim(cfg, 7);
  sim.step();
  const v2x::CameraCalib cal = surround_camera_calib(cfg.agents.cameras, 0);
  const v2x::Pose T = sim.agent_lidar_pose(0) * cal.T_lidar_camera;
  v2x::Image rgb, depth;
  for (auto _ : st) render_camera(sim.world(), cal, T, true, sim.world().actors()[sim.world().connected()[0]].id, 1, rgb, &depth);
  st.counters["pixels_per_s"] =
      benchmark::Counter(static_cast<double>(st.iterations()) * cal.width * cal.height, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Camera)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
