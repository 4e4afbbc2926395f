#include "camera_fusion.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "v2x/encoder/camera_encoder.hpp"
#include "v2x/encoder/camera_net.hpp"
#include "v2x/encoder/manifest.hpp"
#include "v2x/encoder/network.hpp"

namespace fs = std::filesystem;

namespace v2x::train {

namespace {

using namespace camstage;
using ojson = nlohmann::ordered_json;

constexpr const char* kFusionFile = "fusion.pt";
constexpr double kNoWorseTolerance = 1e-3;  // --expect-no-worse: loss slack (and identity-vs-LiDAR-only match)

// The two trained models the fusion sits on, loaded and frozen (eval mode, no gradients to their parameters).
struct FrozenModels {
  encoder::DetectorConfig det;     // the LiDAR model's: grid, anchors, loss, decoding (the camera model's fit it)
  encoder::CameraBranchConfig cam; // the camera model's architecture
  ojson camera_manifest;           // as read (the output manifest starts from it)
  std::string camera_dir, camera_weights_file;
  std::string lidar_name, camera_name;
  encoder::DetectorNet lidar{nullptr};
  encoder::DetectionHead head{nullptr};  // lidar's child "head"
  encoder::CameraDetectorNet camera{nullptr};
};

void freeze(torch::nn::Module& m, const torch::Device& device) {
  m.to(device);
  m.eval();  // batchnorm: running statistics (not folded: the modules stay the training-time definition)
  for (auto& p : m.parameters()) p.requires_grad_(false);
}

ojson read_json(const std::string& file, const std::string& option) {
  std::ifstream in(file);
  if (!in) throw ArgError("--" + option + ": cannot read " + file);
  try {
    return ojson::parse(in);
  } catch (const std::exception& e) {
    throw ArgError("--" + option + ": " + file + ": malformed JSON: " + e.what());
  }
}

template <class Net>
void load_weights(Net& net, const std::string& file, const std::string& option) {
  if (!fs::exists(file)) throw ArgError("--" + option + ": weights " + file + " not found");
  try {
    torch::load(net, file);
  } catch (const c10::Error& e) {
    throw ArgError("--" + option + ": " + file + " does not load into its manifest's architecture (" +
                   e.what_without_backtrace() + ")");
  }
}

FrozenModels load_frozen_models(const Args& args, const torch::Device& device) {
  FrozenModels m;
  const encoder::ModelManifest lidar = encoder::read_manifest(args.str("lidar-model"));
  m.det = lidar.config;
  m.lidar_name = lidar.name;
  m.camera_dir = args.str("camera-model");
  const std::string mf = m.camera_dir + "/" + encoder::kCameraManifestFile;
  m.camera_manifest = read_json(mf, "camera-model");
  if (!m.camera_manifest.contains("camera")) throw ArgError("--camera-model: " + mf + " has no 'camera' block");
  const nlohmann::json manifest = nlohmann::json::parse(m.camera_manifest.dump());
  try {
    m.cam = encoder::camera_config_from_json(manifest["camera"], mf);
  } catch (const std::exception& e) {
    throw ArgError(std::string("--camera-model: ") + e.what());
  }
  // The camera map must have the LiDAR map's grid and channels, and the manifest must describe exactly `cam`
  // (every "camera" key present: absent keys would have taken defaults above).
  const auto diff = encoder::camera_manifest_differences(manifest, m.det, m.cam);
  if (!diff.empty()) {
    std::string s = "--camera-model: " + mf + " does not fit --lidar-model " + args.str("lidar-model") + ":";
    for (const auto& d : diff) s += "\n  " + d;
    throw ArgError(s);
  }
  m.camera_name = m.camera_manifest.value("name", std::string());
  m.camera_weights_file = m.camera_manifest.value("weights_file", std::string("camera_weights.pt"));

  m.lidar = encoder::DetectorNet(m.det);
  load_weights(m.lidar, lidar.weights_path(), "lidar-model");
  for (const auto& kv : m.lidar->named_children())
    if (kv.key() == "head") m.head = encoder::DetectionHead(std::dynamic_pointer_cast<encoder::DetectionHeadImpl>(kv.value()));
  if (!m.head) throw std::runtime_error("DetectorNet has no 'head' module");
  m.camera = encoder::CameraDetectorNet(m.det, m.cam);
  load_weights(m.camera, m.camera_dir + "/" + m.camera_weights_file, "camera-model");
  freeze(*m.lidar, device);
  freeze(*m.camera, device);
  return m;
}

// The frozen branches on a batch of B samples (no autograd).
struct BranchOutputs {
  encoder::HeadOutput lidar;  // the LiDAR model on its own: cls/box/dir + features = the LiDAR map (B, C, H, W)
  torch::Tensor camera;       // the camera BEV map (B, C, H, W)
};
BranchOutputs run_frozen(FrozenModels& m, const encoder::CameraInputBuilder& builder,
                         const std::vector<const CameraSample*>& samples, const torch::Device& device) {
  torch::NoGradGuard ng;
  std::vector<const encoder::Pillars*> pillars;
  std::vector<const std::vector<CameraFrame>*> cameras;
  for (const CameraSample* s : samples) pillars.push_back(&s->pillars), cameras.push_back(&s->cameras);
  return BranchOutputs{m.lidar->forward(encoder::make_pillar_batch(pillars).to(device)),
                       m.camera->bev()->forward(builder.build(cameras).to(device))};
}

struct FusionEval {
  Eval lidar_only;    // the LiDAR head on the LiDAR map
  Eval lidar_camera;  // the LiDAR head on the fused map
};
FusionEval evaluate(FrozenModels& m, encoder::ModalityFusion& fusion, const encoder::CameraInputBuilder& builder,
                    const std::vector<CameraSample>& val, const torch::Device& device) {
  torch::NoGradGuard ng;
  fusion->eval();
  ValAccumulator lidar_only(m.det), lidar_camera(m.det);
  for (const CameraSample& s : val) {
    const BranchOutputs b = run_frozen(m, builder, {&s}, device);
    lidar_only.add(b.lidar, s);
    lidar_camera.add(m.head->forward(fusion->forward(b.lidar.features, b.camera)), s);
  }
  fusion->train();
  return FusionEval{lidar_only.result(), lidar_camera.result()};
}

void log_eval(StageLog& log, const std::string& when, const FusionEval& e) {
  log(eval_line("val " + when + " lidar-only", e.lidar_only));
  log(eval_line("val " + when + " lidar+camera", e.lidar_camera));
}

// Options the fusion mode cannot honour (the architecture comes from --camera-model) or needs.
void check_fusion_args(const Args& args, const std::string& out) {
  if (args.str("lidar-model").empty()) throw ArgError("--fuse-lidar needs --lidar-model (the frozen LiDAR model)");
  if (args.str("camera-model").empty())
    throw ArgError("--fuse-lidar needs --camera-model (a trained camera model folder, e.g. data/models/camera)");
  for (const char* o : {"channels", "lift", "cam-width", "cam-height", "cnn-channels"})
    if (args.is_set(o))
      throw ArgError(std::string("--") + o + ": with --fuse-lidar the architecture comes from --camera-model's manifest");
  if (args.flag_on("expect-loss-drop")) throw ArgError("--expect-loss-drop: use --expect-no-worse with --fuse-lidar");
  if (fs::exists(args.str("camera-model")) && fs::equivalent(out, args.str("camera-model")))
    throw ArgError("--out must differ from --camera-model (the input model is not overwritten)");
}

// Largest |change| of any fusion parameter since `start` (a clone of the parameters before training).
double max_change(encoder::ModalityFusion& fusion, const std::vector<torch::Tensor>& start) {
  torch::NoGradGuard ng;
  double d = 0;
  const auto now = fusion->parameters();
  for (std::size_t i = 0; i < now.size(); ++i)
    d = std::max(d, (now[i].to(torch::kCPU) - start[i]).abs().max().item<double>());
  return d;
}

// --expect-no-worse: the identity fusion reproduces LiDAR-only, training moved the fusion (gradients reach it
// through the frozen head) and did not raise the fused val loss.
int check_no_worse(const FusionEval& before, const FusionEval& after, double weight_change, StageLog& log) {
  if (before.lidar_camera.frames == 0) {
    log("expect-no-worse: no validation frames (--val-seeds none)");
    return 3;
  }
  const double identity_gap = std::abs(before.lidar_camera.loss - before.lidar_only.loss);
  log.printf("expect-no-worse: identity-vs-lidar-only loss gap %.2e, fusion weights moved %.2e, fused val loss "
             "%.4f -> %.4f", identity_gap, weight_change, before.lidar_camera.loss, after.lidar_camera.loss);
  const bool ok = identity_gap <= kNoWorseTolerance && weight_change > 0 &&
                  after.lidar_camera.loss <= before.lidar_camera.loss + kNoWorseTolerance;
  return ok ? 0 : 3;
}

}  // namespace

int run_camera_fusion(const Args& args, const std::string& out, StageLog& log) {
  check_fusion_args(args, out);
  const int threads = static_cast<int>(std::max(1LL, args.integer("threads")));
  const torch::Device device = select_device(args.str("device"), threads);
  LoopOptions loop = LoopOptions::from_args(args);
  loop.weight_decay = 0;  // decay would pull the fusion towards the zero map, not towards its identity start
  torch::manual_seed(loop.seed);
  FrozenModels m = load_frozen_models(args, device);
  log.printf("fuse-lidar: LiDAR model %s (%s), camera model %s (%s), both frozen; training ModalityFusion(%d)",
             args.str("lidar-model").c_str(), m.lidar_name.c_str(), m.camera_dir.c_str(), m.camera_name.c_str(),
             m.det.net.out_channels);
  if (m.camera_manifest.value("has_fusion", false))
    log("fuse-lidar: note: --camera-model already has a fusion; the new one starts from the identity again");

  const encoder::Pillarizer pillarizer(m.det.pillars);
  const CameraData data = generate_camera_data(args, m.cam, m.det, &pillarizer, threads, log);
  const BevGrid fg = m.det.feature_grid();
  const encoder::CameraInputBuilder builder(m.cam, fg);
  const detection::TargetAssigner assigner(m.det.anchor_config(), m.det.assign, m.det.coder);
  encoder::ModalityFusion fusion(m.det.net.out_channels);
  fusion->to(device);

  ojson metrics = m.camera_manifest.value("metrics", ojson::object());  // the camera-only metrics stay
  ojson identity_val = nullptr;
  FusionEval before;
  if (!data.val.empty()) {
    before = evaluate(m, fusion, builder, data.val, device);
    log_eval(log, "before training (identity fusion)", before);
    metrics["val_lidar_only"] = eval_json(before.lidar_only);  // frozen: the same after training
    identity_val = eval_json(before.lidar_camera);
  }

  write_atomically(out + "/" + m.camera_weights_file, [&](const std::string& tmp) {
    fs::copy_file(m.camera_dir + "/" + m.camera_weights_file, tmp, fs::copy_options::overwrite_existing);
    fs::permissions(tmp, fs::perms::owner_write, fs::perm_options::add);  // the shipped copy is read-only
  });
  auto save = [&](const LoopState& st, bool final_) {
    fusion->to(torch::kCPU);
    write_atomically(out + "/" + kFusionFile, [&](const std::string& tmp) { torch::save(fusion, tmp); });
    fusion->to(device);
    ojson man = m.camera_manifest;
    man["name"] = fs::path(out).filename().string();
    man["has_fusion"] = true;
    man["fusion_file"] = kFusionFile;
    ojson tr = ojson::object();
    for (const auto& [k, v] : args.values()) tr["args"][k] = v;
    tr["trained"] = "ModalityFusion only; the LiDAR DetectorNet, its head and the CameraDetectorNet frozen";
    tr["lidar_model"] = args.str("lidar-model") + " (" + m.lidar_name + ")";
    tr["camera_model"] = m.camera_dir + " (" + m.camera_name + ")";
    tr["device"] = device.is_cuda() ? "cuda" : "cpu";
    tr["steps"] = st.step;
    tr["seconds"] = st.seconds();
    tr["train_agent_frames"] = data.train.size();
    tr["weight_decay"] = loop.weight_decay;
    tr["val_identity_fusion"] = identity_val;
    tr["final"] = final_;
    man["fusion_training"] = tr;
    man["metrics"] = metrics;
    man["created_utc"] = utc_now();
    write_json_atomically(out + "/" + encoder::kCameraManifestFile, man);
  };

  // A batch: frozen LiDAR + camera maps (B, C, H, W) → fusion (with autograd) → frozen LiDAR head → loss.
  auto batch_loss = [&](const std::vector<int>& idx) {
    std::vector<const CameraSample*> samples;
    std::vector<detection::AssignmentTargets> tg(idx.size());
    std::vector<const detection::AssignmentTargets*> tp;
    for (std::size_t j = 0; j < idx.size(); ++j) {
      samples.push_back(&data.train[idx[j]]);
      assigner.assign(samples.back()->boxes, tg[j]);
      tp.push_back(&tg[j]);
    }
    const auto targets = encoder::make_target_batch(tp, fg.height(), fg.width(), m.det.anchors.per_cell()).to(device);
    const BranchOutputs b = run_frozen(m, builder, samples, device);
    const torch::Tensor fused = fusion->forward(b.lidar.features, b.camera);
    return encoder::detection_loss(m.head->forward(fused), targets, m.det.loss).total;
  };

  std::vector<torch::Tensor> start;
  for (const auto& p : fusion->parameters()) start.push_back(p.detach().to(torch::kCPU).clone());
  fusion->train();
  const LoopState st = run_train_loop(data.train.size(), fusion->parameters(), loop, batch_loss, log,
                                      [&](const LoopState& s) { save(s, false); });
  const double train_s = st.seconds();
  FusionEval after;
  if (!data.val.empty()) {
    after = evaluate(m, fusion, builder, data.val, device);
    log_eval(log, "after training", after);
    metrics["val_lidar_only"] = eval_json(after.lidar_only);
    metrics["val_lidar_camera"] = eval_json(after.lidar_camera);
  }
  const double moved = max_change(fusion, start);
  log.printf("fusion: %lld steps in %.1f s, weights moved by at most %.3g from the identity",
             static_cast<long long>(st.step), train_s, moved);
  save(st, true);
  return args.flag_on("expect-no-worse") ? check_no_worse(before, after, moved, log) : 0;
}

}  // namespace v2x::train
