#include "evaluate.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "v2x/apps/config_yaml.hpp"
#include "v2x/apps/replay.hpp"
#include "v2x/apps/runtime_factory.hpp"

namespace v2x::replay {
namespace {

namespace po = apps::po;

template <class E>
E parse_enum(const std::string& option, const std::string& s) {
  const auto& names = EnumNames<E>::names;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == s) return static_cast<E>(i);
  throw apps::UsageError("--" + option + ": unknown value '" + s + "' (choose " + enum_choices<E>() + ")");
}

// "XY_M[,YAW_DEG]": one number sets both (OpenCOOD's settings use the same σ for metres and degrees).
apps::PoseNoiseConfig parse_pose_noise(const std::string& s) {
  apps::PoseNoiseConfig n;
  std::istringstream in(s);
  char comma = 0;
  if (!(in >> n.xy_m)) throw apps::UsageError("--pose-noise: expected XY_M[,YAW_DEG], got '" + s + "'");
  n.yaw_deg = n.xy_m;
  if (in >> comma) {
    if (comma != ',' || !(in >> n.yaw_deg)) throw apps::UsageError("--pose-noise: expected XY_M[,YAW_DEG], got '" + s + "'");
  }
  if (!in.eof() && in.peek() != EOF) throw apps::UsageError("--pose-noise: trailing characters in '" + s + "'");
  return n;
}

}  // namespace

void add_evaluate_options(po::options_description& desc) {
  po::options_description ev("evaluation (--fusion ...)");
  ev.add_options()("config", po::value<std::string>(), "replay config YAML (config/replay/*.yaml); flags override it")(
      "fusion", po::value<std::string>(), "none|late|early|max|attn|anchor")(
      "selector", po::value<std::string>(), "send_all|send_nothing|top_k|random_k|request|conformal_temporal")(
      "bits", po::value<int>(), "feature quantization: 32|16|8|4")(
      "budget-bytes", po::value<int>(), "byte budget per message")(
      "mtu", po::value<int>(), "split messages into fragments of at most this many bytes (0: no fragments)")(
      "pose-noise", po::value<std::string>(), "XY_M[,YAW_DEG]: Gaussian error of every agent's believed pose")(
      "latency-ms", po::value<double>(), "message age: one-way latency on the dataset clock")(
      "model", po::value<std::string>(), "detector model folder (manifest.json + weights)")(
      "fusion-model", po::value<std::string>(), "fusion model folder (attn, anchor)")(
      "camera-model", po::value<std::string>(), "camera model folder (camera_manifest.json): agents use their cameras")(
      "sensors", po::value<std::string>(),
      "per-agent sensors in the dataset's agent order, e.g. lidar+camera,camera,lidar,none (auto|lidar|camera|"
      "lidar+camera|none); agents beyond the list: auto")(
      "frames", po::value<std::int64_t>(), "evaluate at most this many frames (0: all)")(
      "seed", po::value<std::uint64_t>(), "seed of the pose noise")(
      "threads", po::value<int>(), "LibTorch threads")(
      "report", po::value<std::string>(), "write the JSON report here")(
      "dump", po::value<std::string>(), "write per-frame detections + GT (JSON lines) here")(
      "viz", po::value<std::string>(), "write one BEV PNG per ego frame into this folder")(
      "print-config", po::bool_switch(), "print the effective replay config as YAML and exit");
  desc.add(ev);
}

bool evaluate_requested(const po::variables_map& vm) {
  return vm.count("fusion") || vm.count("config") || vm.count("report") || vm.count("print-config");
}

namespace {
// The replay config: --config (if any), then the flags.
apps::ReplayConfig replay_config_from(const po::variables_map& vm) {
  apps::ReplayConfig cfg;
  if (vm.count("config")) cfg = apps::load_config<apps::ReplayConfig>(vm["config"].as<std::string>());
  auto& node = cfg.node;
  if (vm.count("fusion")) node.fusion = parse_enum<fusion::FusionMethod>("fusion", vm["fusion"].as<std::string>());
  if (vm.count("selector"))
    node.selection.kind = parse_enum<selection::SelectorKind>("selector", vm["selector"].as<std::string>());
  if (vm.count("bits")) {
    try {
      node.selection.budget.quant = apps::quantization_from_bits(vm["bits"].as<int>());
    } catch (const std::invalid_argument& e) {
      throw apps::UsageError(e.what());
    }
  }
  if (vm.count("budget-bytes")) node.selection.budget.budget_bytes = vm["budget-bytes"].as<int>();
  if (vm.count("mtu")) node.comm.mtu_bytes = vm["mtu"].as<int>();
  if (vm.count("pose-noise")) cfg.pose_noise = parse_pose_noise(vm["pose-noise"].as<std::string>());
  if (vm.count("latency-ms")) cfg.latency_ms = vm["latency-ms"].as<double>();
  if (vm.count("model")) node.model_dir = vm["model"].as<std::string>();
  if (vm.count("fusion-model")) node.fusion_model_dir = vm["fusion-model"].as<std::string>();
  if (vm.count("camera-model")) node.camera_model_dir = vm["camera-model"].as<std::string>();
  if (vm.count("sensors")) {
    cfg.sensors.clear();
    std::stringstream in(vm["sensors"].as<std::string>());
    for (std::string item; std::getline(in, item, ',');) cfg.sensors.push_back(parse_enum<SensorSet>("sensors", item));
  }
  if (vm.count("frames")) cfg.max_frames = vm["frames"].as<std::int64_t>();
  if (vm.count("seed")) cfg.seed = vm["seed"].as<std::uint64_t>();
  if (vm.count("threads")) node.num_threads = vm["threads"].as<int>();
  apps::set_fusion_pose_sigmas(cfg);
  validate_config(cfg, "command line");
  return cfg;
}
}  // namespace

bool evaluate_uses_cameras(const po::variables_map& vm) { return !replay_config_from(vm).node.camera_model_dir.empty(); }

int run_evaluate(const po::variables_map& vm, const sensors::CoopDataset& ds, const std::string& dataset_name) {
  const apps::ReplayConfig cfg = replay_config_from(vm);
  const auto& node = cfg.node;
  if (vm["print-config"].as<bool>()) {
    std::cout << apps::dump_config(cfg) << "\n";
    return 0;
  }
  if (std::string(ds.format()) == "kitti" && node.fusion != fusion::FusionMethod::None)
    throw apps::UsageError("--fusion " + std::string(enum_name(node.fusion)) +
                           ": KITTI frames have a single agent; only --fusion none runs on them");

  if (!node.camera_model_dir.empty() && std::string(ds.format()) != "opv2v")
    std::fprintf(stderr, "note: the %s reader loads no camera images: every agent runs without cameras\n", ds.format());
  // A missing or mismatching model is a setup error: one line, exit 2.
  std::unique_ptr<apps::RuntimeModels> models;
  try {
    models = std::make_unique<apps::RuntimeModels>(node);
  } catch (const std::runtime_error& e) {
    throw apps::UsageError(std::string("--model: ") + e.what());
  }
  try {
    (void)models->make_fuser();  // fail now (missing fusion weights), not at the first frame
  } catch (const std::runtime_error& e) {
    throw apps::UsageError(std::string("--fusion ") + std::string(enum_name(node.fusion)) + ": " + e.what());
  }
  apps::ReplayResources res;
  res.perception = models->perception();
  res.make_fuser = [&models] { return models->make_fuser(); };

  apps::ReplayOutputs out;
  if (vm.count("report")) out.report_path = vm["report"].as<std::string>();
  if (vm.count("dump")) out.dump_path = vm["dump"].as<std::string>();
  if (vm.count("viz")) out.viz_dir = vm["viz"].as<std::string>();
  out.progress = !(vm.count("no-progress") && vm["no-progress"].as<bool>());
  out.dataset_name = dataset_name;
  const detection::EvalReport rep = apps::run_replay(ds, cfg, res, out);

  std::printf("method %s frames %lld agents %lld", rep.method.c_str(), static_cast<long long>(rep.frames),
              static_cast<long long>(rep.agents));
  for (auto [t, v] : rep.ap) std::printf(" AP@%s %.4f", detection::threshold_key(t).c_str(), v);
  std::printf(" bytes/msg mean %.0f p95 %.0f max %.0f", rep.bytes_per_message.mean, rep.bytes_per_message.p95,
              rep.bytes_per_message.max);
  for (const auto& [stage, l] : rep.latency_ms)
    if (stage == "encode" || stage == "fuse" || stage == "total") std::printf(" %s %.1f ms", stage.c_str(), l.median_ms);
  std::printf(" dropped stale %lld corrupt %lld unauthenticated %lld\n", static_cast<long long>(rep.dropped.stale),
              static_cast<long long>(rep.dropped.corrupt), static_cast<long long>(rep.dropped.unauthenticated));
  if (models->perception()->failures() > 0)
    std::fprintf(stderr, "note: the detector failed on %lld agent-frames (zero features used)\n",
                 static_cast<long long>(models->perception()->failures()));
  return 0;
}

}  // namespace v2x::replay
