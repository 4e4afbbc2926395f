// Bytes per message for each selector × {FP32, FP16, INT8, INT4}, against the dense FP32 map, as a markdown
// table for docs/results.md. Every message is really encoded (comm::encode, lz4 on) and its bytes counted.
//
// The table is meant for simulator frames encoded by the trained BEV encoder. Until those exist, the FeatureMaps
// come from selection::SyntheticScene (Gaussian-blob world, NOT learned features) — `synthetic_frames` is the
// only place to change when real maps are available: everything downstream takes (FeatureMap, pose) pairs.
// Usage: comm_bytes_table [frames=20] [channels=32] [budget_bytes=3145728] [car_speed_mps=8]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "v2x/comm/codec.hpp"
#include "v2x/selection/selection_config.hpp"
#include "v2x/selection/synthetic_scene.hpp"

using namespace v2x;
using namespace v2x::selection;

namespace {
struct Frame {
  FeatureMap map;
  Pose T_world_lidar;
};

std::vector<Frame> synthetic_frames(int n, int channels, double car_speed_mps, std::uint64_t seed) {
  SyntheticSceneConfig sc;
  sc.channels = channels;
  sc.car_speed_mps = car_speed_mps;
  sc.seed = seed;
  SyntheticScene scene(sc);
  std::vector<Frame> out;
  for (int k = 0; k < n; ++k) {
    Frame f;
    f.map = scene.frame(k, &f.T_world_lidar);
    out.push_back(std::move(f));
  }
  return out;
}

struct Row {
  double bytes[4] = {0, 0, 0, 0};
  double cells = 0;
};
}  // namespace

int main(int argc, char** argv) {
  const int frames = argc > 1 ? std::atoi(argv[1]) : 20;
  const int channels = argc > 2 ? std::atoi(argv[2]) : 32;
  const int budget = argc > 3 ? std::atoi(argv[3]) : 3 << 20;
  const double speed = argc > 4 ? std::atof(argv[4]) : 8.0;
  const auto sender = synthetic_frames(frames, channels, speed, 1);
  const auto ego = synthetic_frames(frames, channels, speed, 2);  // stand-in ego for the request map
  const double dense = 4.0 * static_cast<double>(sender[0].map.data.size());
  const std::size_t grid_cells = sender[0].map.cells();

  std::printf("| selector | cells/msg | FP32 B | FP16 B | INT8 B | INT4 B | INT8 %% of dense FP32 | INT4 %% of dense FP32 |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int kind = 0; kind < 6; ++kind) {
    Row row;
    for (int q = 0; q < 4; ++q) {
      SelectionConfig cfg;
      cfg.kind = static_cast<SelectorKind>(kind);
      cfg.budget.budget_bytes = budget;
      cfg.budget.quant = static_cast<Quantization>(q);
      cfg.top_k.k = static_cast<int>(grid_cells / 10);
      cfg.top_k.min_confidence = 0.1;
      cfg.random_k.k = static_cast<int>(grid_cells / 10);
      cfg.request.fill_with_confidence = false;
      auto sel = make_selector(cfg);
      double bytes = 0, cells = 0;
      for (int k = 0; k < frames; ++k) {
        const auto& f = sender[static_cast<std::size_t>(k)];
        const auto req_map = make_request_map(ego[static_cast<std::size_t>(k)].map, f.T_world_lidar, 0.3);
        const auto req = warp_request(req_map, f.T_world_lidar, f.map.grid, f.map.height, f.map.width);
        const auto r = sel->select({&f.map, f.T_world_lidar, {}, &req});
        const auto sf = make_sparse_features(f.map, r, f.T_world_lidar, {}, static_cast<std::uint32_t>(k), cfg.budget.quant);
        auto b = comm::encode(sf);
        if (!b) {
          std::fprintf(stderr, "encode failed: %s\n", b.error().message.c_str());
          return 1;
        }
        bytes += static_cast<double>(b->size());
        cells += static_cast<double>(r.cells.size());
      }
      row.bytes[q] = bytes / frames;
      row.cells = cells / frames;
    }
    std::printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f %% | %.2f %% |\n",
                std::string(enum_name(static_cast<SelectorKind>(kind))).c_str(), row.cells, row.bytes[0], row.bytes[1],
                row.bytes[2], row.bytes[3], 100.0 * row.bytes[2] / dense, 100.0 * row.bytes[3] / dense);
  }
  std::printf("\nDense FP32 map: %.0f bytes (C=%d, %dx%d). Frames: %d synthetic (SyntheticScene, cars %.1f m/s, ego 5 m/s). "
              "Budget %d B. top_k/random_k: k = 10%% of cells (top_k min confidence 0.1); request: cells where a stand-in "
              "ego's confidence <= 0.3, no fill. Means over frames; the first frame sends the whole scene for conformal.\n",
              dense, channels, sender[0].map.height, sender[0].map.width, frames, speed, budget);
  return 0;
}
