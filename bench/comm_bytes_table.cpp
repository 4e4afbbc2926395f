// Bytes per message for each selector × {FP32, FP16, INT8, INT4}, against the dense FP32 map, as a markdown
// table for docs/results.md. The feature maps are real: every agent's LiDAR of a recorded dataset (OPV2V layout,
// e.g. `v2x_sim generate` output) through the shipped detector. Every message is really encoded (comm::encode,
// lz4 on) with the sender's anchors, and its bytes counted.
//
// Usage: comm_bytes_table DATASET_DIR MODEL_DIR [frames=40] [budget_bytes=3145728]
//   Sender = every non-ego agent of each frame; ego (for the request map) = the frame's ego. Selectors keep their
//   state along a scenario (frames in time order) and are reset when the scenario changes.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "v2x/comm/codec.hpp"
#include "v2x/fusion/perception.hpp"
#include "v2x/selection/selection_config.hpp"
#include "v2x/sensors/dataset.hpp"

using namespace v2x;
using namespace v2x::selection;

namespace {
struct Message {  // one sender's view of one frame
  std::string scenario;
  AgentId sender = 0;
  fusion::AgentPerception p;
  Pose T_world_lidar;
  bool is_rsu = false;
  std::vector<std::uint8_t> request;  // the ego's request map in the sender's grid
};
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: comm_bytes_table DATASET_DIR MODEL_DIR [frames=40] [budget_bytes=3145728]\n");
    return 2;
  }
  const int max_frames = argc > 3 ? std::atoi(argv[3]) : 40;
  const int budget = argc > 4 ? std::atoi(argv[4]) : 3 << 20;
  const auto ds = sensors::open_dataset(sensors::DatasetFormat::Opv2v, argv[1]);
  const auto det = fusion::NetDetector::from_model(argv[2]);

  // Perception once per agent-frame; messages ordered by (sender, scenario, time) so each selector sees a sequence.
  std::map<std::pair<std::string, AgentId>, std::vector<Message>> seqs;
  int frames = 0;
  for (std::size_t i = 0; i < ds->size() && frames < max_frames; ++i) {
    auto f = ds->load(i);
    if (!f) {
      std::fprintf(stderr, "skipping frame %zu: %s\n", i, f.error().message.c_str());
      continue;
    }
    ++frames;
    const AgentFrame* ego = f->agent(f->ego);
    const auto ego_p = det->perceive(ego->cloud, ego->id, ego->stamp_ns);
    const auto req_map = make_request_map(ego_p.map, ego->T_world_lidar, 0.3);
    for (const auto& a : f->agents) {
      if (a.id == f->ego) continue;
      Message m{f->scenario, a.id, det->perceive(a.cloud, a.id, a.stamp_ns), a.T_world_lidar, a.is_rsu, {}};
      m.request = warp_request(req_map, a.T_world_lidar, m.p.map.grid, m.p.map.height, m.p.map.width);
      seqs[{f->scenario, a.id}].push_back(std::move(m));
    }
  }
  std::size_t messages = 0;
  for (const auto& [k, v] : seqs) messages += v.size();
  if (messages == 0) {
    std::fprintf(stderr, "no peer messages in %s\n", argv[1]);
    return 1;
  }
  const FeatureMap& m0 = seqs.begin()->second.front().p.map;
  const double dense = 4.0 * static_cast<double>(m0.data.size());
  const std::size_t grid_cells = m0.cells();

  std::printf("| selector | cells/msg | anchors/msg | FP32 B | FP16 B | INT8 B | INT4 B | INT8 %% of dense FP32 | INT4 %% of dense FP32 |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int kind = 0; kind < 6; ++kind) {
    double bytes[4] = {0, 0, 0, 0}, cells = 0, anchors = 0;
    for (int q = 0; q < 4; ++q) {
      SelectionConfig cfg;
      cfg.kind = static_cast<SelectorKind>(kind);
      cfg.budget.budget_bytes = budget;
      cfg.budget.quant = static_cast<Quantization>(q);
      cfg.top_k.k = static_cast<int>(grid_cells / 10);
      cfg.random_k.k = static_cast<int>(grid_cells / 10);
      cfg.request.fill_with_confidence = false;
      for (const auto& [key, seq] : seqs) {
        auto sel = make_selector(cfg);  // a fresh selector per sender sequence
        for (std::size_t k = 0; k < seq.size(); ++k) {
          const Message& m = seq[k];
          const auto r = sel->select({&m.p.map, m.T_world_lidar, m.p.proposals, &m.request});
          const auto sf = make_sparse_features(m.p.map, r, m.T_world_lidar, m.p.proposals,
                                               static_cast<std::uint32_t>(k), cfg.budget.quant);
          auto b = comm::encode(sf);
          if (!b) {
            std::fprintf(stderr, "encode failed: %s\n", b.error().message.c_str());
            return 1;
          }
          bytes[q] += static_cast<double>(b->size());
          if (q == 2) cells += static_cast<double>(r.cells.size()), anchors += static_cast<double>(r.anchors.size());
        }
      }
    }
    const double n = static_cast<double>(messages);
    std::printf("| %s | %.0f | %.1f | %.0f | %.0f | %.0f | %.0f | %.2f %% | %.2f %% |\n",
                std::string(enum_name(static_cast<SelectorKind>(kind))).c_str(), cells / n, anchors / n, bytes[0] / n,
                bytes[1] / n, bytes[2] / n, bytes[3] / n, 100.0 * bytes[2] / n / dense, 100.0 * bytes[3] / n / dense);
  }
  // How the conformal selector follows the scene: cells per message along each sender's sequence (INT8).
  std::printf("\n| sender (scenario / agent) | RSU | messages | cells, first message | cells/msg afterwards (mean) | min | max |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|\n");
  for (const auto& [key, seq] : seqs) {
    SelectionConfig cfg;
    cfg.kind = SelectorKind::ConformalTemporal;
    cfg.budget.budget_bytes = budget;
    cfg.budget.quant = Quantization::Int8;
    auto sel = make_selector(cfg);
    std::vector<double> n;
    for (const auto& m : seq) n.push_back(static_cast<double>(sel->select({&m.p.map, m.T_world_lidar, m.p.proposals}).cells.size()));
    double sum = 0, lo = 1e18, hi = 0;
    for (std::size_t k = 1; k < n.size(); ++k) sum += n[k], lo = std::min(lo, n[k]), hi = std::max(hi, n[k]);
    const double rest = n.size() > 1 ? sum / static_cast<double>(n.size() - 1) : 0;
    std::printf("| %s / %lld | %s | %zu | %.0f | %.0f | %.0f | %.0f |\n", key.first.c_str(),
                static_cast<long long>(key.second), seq.front().is_rsu ? "yes" : "no", n.size(), n[0], rest,
                n.size() > 1 ? lo : 0, hi);
  }
  std::printf("\nDense FP32 map: %.0f bytes (C=%d, %dx%d cells). %d frames of %s, %zu peer messages in %zu sender "
              "sequences. Budget %d B. top_k/random_k: k = 10%% of cells; request: cells where the ego's confidence "
              "<= 0.3, no fill. Means over messages (cells/anchors at INT8).\n",
              dense, m0.channels, m0.height, m0.width, frames, argv[1], messages, seqs.size(), budget);
  return 0;
}
