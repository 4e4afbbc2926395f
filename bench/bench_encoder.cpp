// LiDAR encoder + detection head latency on the CPU (2 threads), on a simulated urban HDL-64 sweep.
//   BM_Pillarize        C++ pillarization only
//   BM_EncoderHead      pillarization + pillar feature net + scatter + backbone + head (the "encoder + head" target)
//   BM_LidarDetector    everything LidarDetector::run does: the above + copies into FeatureMap/confidence +
//                       anchor decoding + rotated NMS + proposal features
// Weights: data/models/detector when present (run from the repository root), else random weights of the
// same architecture (same cost). Counters: peak RSS of the process (VmHWM) in MB.
#include <benchmark/benchmark.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "v2x/encoder/lidar_detector.hpp"
#include "v2x/encoder/manifest.hpp"
#include "v2x/encoder/network.hpp"
#include "v2x/encoder/pillarizer.hpp"
#include "v2x/sim/simulator.hpp"

using namespace v2x;
using namespace v2x::encoder;

namespace {

const char* kModel = "data/models/detector";

const PointCloud& sweep() {
  static const PointCloud cloud = [] {
    sim::Simulator s(sim::preset("urban"), 7);
    return s.step().agents.at(0).cloud;
  }();
  return cloud;
}

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

DetectorConfig model_config() {
  return std::filesystem::exists(std::string(kModel) + "/manifest.json") ? read_manifest(kModel).config : DetectorConfig{};
}

void BM_Pillarize(benchmark::State& state) {
  const Pillarizer pz(model_config().pillars);
  const PointCloud& c = sweep();
  for (auto _ : state) benchmark::DoNotOptimize(pz.run(c));
  state.counters["points"] = static_cast<double>(c.size());
}
BENCHMARK(BM_Pillarize)->Unit(benchmark::kMillisecond);

void BM_EncoderHead(benchmark::State& state) {
  at::set_num_threads(static_cast<int>(state.range(0)));
  const DetectorConfig cfg = model_config();
  DetectorNet net(cfg);
  if (std::filesystem::exists(std::string(kModel) + "/weights.pt")) torch::load(net, std::string(kModel) + "/weights.pt");
  net->fold_batchnorm_for_inference();  // as LidarDetector runs it
  const Pillarizer pz(cfg.pillars);
  const PointCloud& c = sweep();
  torch::NoGradGuard ng;
  for (auto _ : state) {
    const Pillars p = pz.run(c);
    const HeadOutput h = net->forward(make_pillar_batch({&p}));
    benchmark::DoNotOptimize(h.cls.data_ptr<float>());
  }
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK(BM_EncoderHead)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LidarDetector(benchmark::State& state) {
  const DetectorConfig cfg = model_config();
  std::unique_ptr<LidarDetector> det;
  if (std::filesystem::exists(std::string(kModel) + "/weights.pt"))
    det = std::make_unique<LidarDetector>(kModel, cfg);
  else
    det = LidarDetector::untrained(cfg, 1);
  const PointCloud& c = sweep();
  double pil = 0, netw = 0, dec = 0, dets = 0;
  for (auto _ : state) {
    auto r = det->run(c);
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      return;
    }
    pil += r->timings.pillarize_ms;
    netw += r->timings.network_ms;
    dec += r->timings.decode_ms;
    dets += static_cast<double>(r->detections.detections.size());
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["pillarize_ms"] = pil / n;
  state.counters["network_ms"] = netw / n;
  state.counters["decode_ms"] = dec / n;
  state.counters["detections"] = dets / n;
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK(BM_LidarDetector)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
