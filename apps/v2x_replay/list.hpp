#pragma once
// `v2x_replay --list`: scans a dataset and prints scenarios, frames, agents/boxes/points per frame.
#include <filesystem>
#include <iosfwd>

#include "v2x/sensors/dataset.hpp"

namespace v2x::replay {

struct ListOptions {
  bool progress = true;          // "\r[i/N] ..." on stderr, updated in place
  bool per_frame = true;         // one line per frame (else only the per-scenario summary)
};

struct ListSummary {
  std::size_t frames = 0, loaded = 0, skipped = 0;
};

// Loads every frame; a frame that fails to load is reported on stderr (one line naming file and field),
// counted and skipped. Output (stdout):
//   dataset <root> format <fmt> frames <N>
//   frame <scenario>/<timestamp> ego <id> agents <n> [<id>:<points>[:rsu] ...] boxes <gt boxes> (vehicles <v>)
//   scenario <name> frames <n> mean_agents <a> mean_boxes <b> mean_points <p>
//   summary frames <N> loaded <L> skipped <S>
ListSummary list_dataset(const sensors::CoopDataset& ds, const std::filesystem::path& root, const ListOptions& opt,
                         std::ostream& out, std::ostream& err);

}  // namespace v2x::replay
