#pragma once
// v2x_replay evaluation mode: --fusion none|late|early|max|attn|anchor over any dataset the readers load, through
// NodeRuntime (apps/common/replay.hpp), writing the architecture's report (--report) and dump (--dump).
#include <string>

#include "v2x/apps/cli.hpp"
#include "v2x/sensors/dataset.hpp"

namespace v2x::replay {

void add_evaluate_options(apps::po::options_description& desc);
// True when the command line asks for an evaluation (--fusion, --config or --report given).
bool evaluate_requested(const apps::po::variables_map& vm);
// True when the evaluation runs a camera model (--camera-model or the config's node.camera_model_dir): the
// dataset must then be opened with its images.
bool evaluate_uses_cameras(const apps::po::variables_map& vm);
// Runs it; returns the exit code. Throws UsageError / ConfigError (exit 2) on bad options or config.
int run_evaluate(const apps::po::variables_map& vm, const sensors::CoopDataset& ds, const std::string& dataset_name);

}  // namespace v2x::replay
