// v2x_replay: offline replay of recorded cooperative datasets (OPV2V/V2XSet, DAIR-V2X-C, KITTI).
// Modes: --list (list.cpp). Exit codes: 0 ok, 1 runtime error, 2 bad arguments (one line on stderr).
#include <unistd.h>

#include <iostream>
#include <string>

#include "list.hpp"
#ifdef V2X_REPLAY_EVALUATE
#include "evaluate.hpp"  // --fusion ... (built with V2X_WITH_TORCH)
#endif
#include "v2x/apps/cli.hpp"
#include "v2x/sensors/dair.hpp"
#include "v2x/sensors/dataset.hpp"

int main(int argc, char** argv) {
  return v2x::apps::run_main("v2x_replay", [&]() -> int {
    namespace po = v2x::apps::po;
    po::options_description desc("v2x_replay options");
    v2x::apps::add_common_options(desc);
    desc.add_options()("dataset", po::value<std::string>(), "dataset root folder")(
        "format", po::value<std::string>()->default_value("opv2v"), "opv2v (= v2xset) | dair | kitti")(
        "list", po::bool_switch(), "list scenarios, frames, agents, boxes and point counts")(
        "no-progress", po::bool_switch(), "no progress line on stderr")(
        "summary-only", po::bool_switch(), "with --list: per-scenario lines only, no line per frame");
#ifdef V2X_REPLAY_EVALUATE
    v2x::replay::add_evaluate_options(desc);
#endif
    po::variables_map vm;
    if (!v2x::apps::parse_command_line(argc, argv, desc, vm,
                                       "usage: v2x_replay --dataset DIR --format opv2v|dair|kitti --list"))
      return 0;
    if (!vm.count("dataset")) throw v2x::apps::UsageError("--dataset is required");
    v2x::sensors::DatasetFormat format;
    try {
      format = v2x::sensors::dataset_format_from_string(vm["format"].as<std::string>());
    } catch (const std::invalid_argument& e) {
      throw v2x::apps::UsageError(std::string("--format: ") + e.what());
    }
    const bool list = vm["list"].as<bool>();
#ifdef V2X_REPLAY_EVALUATE
    const bool evaluate = !list && v2x::replay::evaluate_requested(vm);
#else
    const bool evaluate = false;
#endif
    if (!list && !evaluate) throw v2x::apps::UsageError("nothing to do: give a mode (--list, or --fusion METHOD)");
    const std::filesystem::path root = vm["dataset"].as<std::string>();
    std::unique_ptr<v2x::sensors::CoopDataset> ds;
    try {
#ifdef V2X_REPLAY_EVALUATE
      const bool cameras = evaluate && v2x::replay::evaluate_uses_cameras(vm);
#else
      const bool cameras = false;
#endif
      ds = v2x::sensors::open_dataset(format, root, cameras);
    } catch (const std::runtime_error& e) {
      throw v2x::apps::UsageError(std::string("--dataset: ") + e.what());
    }
    if (auto* dair = dynamic_cast<v2x::sensors::DairDataset*>(ds.get()); dair && dair->absent_pairs() > 0)
      std::cerr << "note: " << dair->absent_pairs() << " pairs listed in " << dair->data_info_file().string()
                << " have no point clouds here (not indexed)\n";
#ifdef V2X_REPLAY_EVALUATE
    if (evaluate) return v2x::replay::run_evaluate(vm, *ds, root.string());
#endif
    v2x::replay::ListOptions lo;
    lo.progress = !vm["no-progress"].as<bool>() && ::isatty(STDERR_FILENO);  // in-place line only on a terminal
    lo.per_frame = !vm["summary-only"].as<bool>();
    v2x::replay::list_dataset(*ds, root, lo, std::cout, std::cerr);
    return 0;
  });
}
