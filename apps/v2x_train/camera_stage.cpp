#include "camera_stage.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "args.hpp"
#include "camera_common.hpp"
#include "camera_fusion.hpp"
#include "v2x/encoder/camera_encoder.hpp"
#include "v2x/encoder/camera_net.hpp"
#include "v2x/encoder/manifest.hpp"
#include "v2x/encoder/network.hpp"

namespace fs = std::filesystem;

namespace v2x::train {

namespace {

using namespace camstage;

Args camera_stage_args() {
  Args args;
  args.option("stage", "camera", "training stage (this file: camera)")
      .option("out", "", "output folder: camera_weights.pt, camera_manifest.json (+ fusion.pt with --fuse-lidar), "
                         "train_log.txt (required)")
      .option("lidar-model", "", "LiDAR model folder (manifest.json): its DetectorConfig is used (grid, channels, "
                                 "anchors); with --fuse-lidar also its frozen network and head (required then)")
      .flag("fuse-lidar", "train only the LiDAR+camera ModalityFusion on top of the frozen --lidar-model and "
                          "--camera-model networks (docs/cameras.md, \"LiDAR+camera agents\")")
      .option("camera-model", "", "with --fuse-lidar: a camera model folder (camera_manifest.json), e.g. "
                                  "data/models/camera; its architecture and weights are used, frozen")
      .option("channels", "48", "C of the BEV map when no --lidar-model is given")
      .option("lift", "flat_ground", "flat_ground | multi_height")
      .option("cam-width", "200", "network input width (simulator renders at this size)")
      .option("cam-height", "150", "network input height")
      .option("cnn-channels", "16,32,32", "image CNN channels per block (strides 2,2,1)")
      .option("device", "auto", "auto | cpu | cuda")
      .option("threads", "2", "CPU threads (simulation and LibTorch)")
      .option("seed", "1", "shuffling and initialisation seed")
      .option("train-presets", "urban", "simulator presets for training")
      .option("train-seeds", "1-8", "simulator seeds for training")
      .option("train-frames", "8", "frames kept per (preset, seed)")
      .option("frame-stride", "5", "simulator steps between kept frames")
      .option("val-presets", "urban", "simulator presets for validation")
      .option("val-seeds", "9001-9002", "held-out validation seeds; 'none' = no validation")
      .option("val-frames", "8", "validation frames per (preset, seed)")
      .option("epochs", "20", "epochs")
      .option("batch", "4", "batch size (agent-frames)")
      .option("lr", "0.002", "peak learning rate (AdamW, cosine)")
      .option("max-steps", "0", "stop after this many steps (0 = none)")
      .option("time-budget-s", "0", "stop after this many seconds (0 = none)")
      .option("checkpoint-every", "200", "write weights + manifest every N steps")
      .option("log-every", "20", "log the running loss every N steps")
      .flag("expect-loss-drop", "exit 3 unless the mean loss of the last 5 steps is below 0.7 x the first 5")
      .flag("expect-no-worse", "with --fuse-lidar: exit 3 unless the identity fusion (before training) matches "
                               "LiDAR-only on the validation frames, training moved the fusion weights, and the fused "
                               "validation loss after training is at most the identity fusion's + 1e-3")
      .flag("help", "this help");
  return args;
}

// The camera-only mode's architecture from --cam-width --cam-height --cnn-channels --lift.
encoder::CameraBranchConfig camera_config_from_args(const Args& args) {
  encoder::CameraBranchConfig cam;
  cam.input_width = static_cast<int>(args.integer("cam-width"));
  cam.input_height = static_cast<int>(args.integer("cam-height"));
  cam.cnn_channels.clear();
  for (const auto& c : args.list("cnn-channels")) cam.cnn_channels.push_back(std::stoi(c));
  cam.cnn_strides.assign(cam.cnn_channels.size(), 1);
  for (std::size_t i = 0; i < cam.cnn_strides.size() && i < 2; ++i) cam.cnn_strides[i] = 2;
  if (args.str("lift") == "flat_ground") cam.lift = encoder::CameraLift::FlatGround;
  else if (args.str("lift") == "multi_height") cam.lift = encoder::CameraLift::MultiHeight;
  else throw ArgError("--lift: choose flat_ground or multi_height");
  validate_config(cam, "v2x_train --stage camera");
  return cam;
}

// Exit code of --expect-loss-drop: 0 when the mean loss of the last 5 steps is below 0.7 × the first 5.
int check_loss_drop(const std::vector<double>& losses, StageLog& log) {
  if (losses.size() < 10) {
    log("expect-loss-drop: fewer than 10 steps");
    return 3;
  }
  const double first = std::accumulate(losses.begin(), losses.begin() + 5, 0.0) / 5;
  const double last = std::accumulate(losses.end() - 5, losses.end(), 0.0) / 5;
  log.printf("loss first-5 %.4f last-5 %.4f", first, last);
  return last < 0.7 * first ? 0 : 3;
}

// --stage camera without --fuse-lidar: trains the camera-only CameraDetectorNet.
int run_camera_only(const Args& args, const std::string& out, StageLog& log) {
  for (const char* o : {"camera-model", "expect-no-worse"})
    if (args.is_set(o)) throw ArgError(std::string("--") + o + " needs --fuse-lidar");
  encoder::DetectorConfig det;
  std::string lidar_note = "none: camera-only head";
  if (!args.str("lidar-model").empty()) {
    det = encoder::read_manifest(args.str("lidar-model")).config;
    lidar_note = args.str("lidar-model") + " (its grid, channels, anchors)";
  } else {
    det.net.out_channels = static_cast<int>(args.integer("channels"));
  }
  const encoder::CameraBranchConfig cam = camera_config_from_args(args);
  validate_config(det, "v2x_train --stage camera");

  const int threads = static_cast<int>(std::max(1LL, args.integer("threads")));
  const torch::Device device = select_device(args.str("device"), threads);
  const LoopOptions loop = LoopOptions::from_args(args);
  torch::manual_seed(loop.seed);
  const CameraData data = generate_camera_data(args, cam, det, nullptr, threads, log);

  const BevGrid fg = det.feature_grid();
  const encoder::CameraInputBuilder builder(cam, fg);
  const detection::TargetAssigner assigner(det.anchor_config(), det.assign, det.coder);
  encoder::CameraDetectorNet net(det, cam);
  net->to(device);
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();

  auto save = [&](const LoopState& st, bool final_) {
    net->to(torch::kCPU);
    write_atomically(out + "/camera_weights.pt", [&](const std::string& tmp) { torch::save(net, tmp); });
    net->to(device);
    nlohmann::ordered_json m;
    m["name"] = fs::path(out).filename().string();
    m["weights_file"] = "camera_weights.pt";
    m["detector"] = encoder::detector_config_to_json(det);
    m["camera"] = encoder::camera_config_to_json(cam);
    m["has_fusion"] = false;
    nlohmann::ordered_json tr = nlohmann::ordered_json::object();
    for (const auto& [k, v] : args.values()) tr["args"][k] = v;
    tr["lidar_model"] = lidar_note;
    tr["device"] = device.is_cuda() ? "cuda" : "cpu";
    tr["steps"] = st.step;
    tr["seconds"] = st.seconds();
    tr["train_agent_frames"] = data.train.size();
    tr["final"] = final_;
    m["training"] = tr;
    m["metrics"] = metrics;
    m["created_utc"] = utc_now();
    write_json_atomically(out + "/" + encoder::kCameraManifestFile, m);
  };

  // A batch: cameras (B agents) → head outputs (B, H, W, A…) vs the agents' targets.
  auto batch_loss = [&](const std::vector<int>& idx) {
    std::vector<const std::vector<CameraFrame>*> cams;
    std::vector<detection::AssignmentTargets> tg(idx.size());
    std::vector<const detection::AssignmentTargets*> tp;
    for (std::size_t j = 0; j < idx.size(); ++j) {
      const CameraSample& s = data.train[idx[j]];
      cams.push_back(&s.cameras);
      assigner.assign(s.boxes, tg[j]);
      tp.push_back(&tg[j]);
    }
    const auto targets = encoder::make_target_batch(tp, fg.height(), fg.width(), det.anchors.per_cell()).to(device);
    return encoder::detection_loss(net->forward(builder.build(cams).to(device)), targets, det.loss).total;
  };

  net->train();
  const LoopState st = run_train_loop(data.train.size(), net->parameters(), loop, batch_loss, log,
                                      [&](const LoopState& s) { save(s, false); });
  if (!data.val.empty()) {
    net->eval();
    torch::NoGradGuard ng;
    ValAccumulator acc(det);
    for (const CameraSample& s : data.val) acc.add(net->forward(builder.build({&s.cameras}).to(device)), s);
    const Eval e = acc.result();
    metrics["val"] = eval_json(e);
    log(eval_line("val", e));
  }
  save(st, true);
  return args.flag_on("expect-loss-drop") ? check_loss_drop(st.losses, log) : 0;
}

}  // namespace

bool wants_camera_stage(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--stage=camera") == 0) return true;
    if (std::strcmp(argv[i], "--stage") == 0 && i + 1 < argc && std::strcmp(argv[i + 1], "camera") == 0) return true;
  }
  return false;
}

int run_camera_stage(int argc, const char* const* argv) {
  Args args = camera_stage_args();
  args.parse(argc, argv);
  if (args.flag_on("help")) {
    std::printf("usage: v2x_train --stage camera --out DIR [options]\n"
                "       v2x_train --stage camera --fuse-lidar --lidar-model DIR --camera-model DIR --out DIR [options]\n%s",
                args.help().c_str());
    return 0;
  }
  if (args.str("out").empty()) throw ArgError("--out is required");
  const std::string out = args.str("out");
  fs::create_directories(out);
  StageLog log(out);
  return args.flag_on("fuse-lidar") ? run_camera_fusion(args, out, log) : run_camera_only(args, out, log);
}

}  // namespace v2x::train
