#include "camera_stage.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <numeric>

#include "args.hpp"
#include "sim_data.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/detection/decoder.hpp"
#include "v2x/detection/evaluation.hpp"
#include "v2x/encoder/camera_encoder.hpp"
#include "v2x/encoder/camera_net.hpp"
#include "v2x/encoder/manifest.hpp"
#include "v2x/encoder/network.hpp"
#include "v2x/sim/simulator.hpp"

namespace fs = std::filesystem;

namespace v2x::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One agent-frame: its cameras (rendered at the network's input size) and the GT vehicle boxes (LiDAR frame).
struct CameraSample {
  std::vector<CameraFrame> cameras;
  std::vector<Box3D> boxes;
  std::vector<int> box_points;
};

std::vector<CameraSample> generate(const std::vector<SimJob>& jobs, const encoder::CameraBranchConfig& cam,
                                   const SampleOptions& opt, int threads, const std::function<void(int, int)>& progress) {
  std::vector<std::vector<CameraSample>> per_job(jobs.size());
  for_each_kept_frame(
      jobs, threads,
      [&](sim::SimConfig& sc) {
        // Rendering at the network's input size is the same pinhole camera as rendering OPV2V's 800×600 and
        // resizing (same FOV, intrinsics scaled), 16× fewer rays.
        sc.agents.cameras.enabled = true;
        sc.agents.cameras.width = cam.input_width;
        sc.agents.cameras.height = cam.input_height;
        sc.agents.cameras.depth = false;
      },
      [&](std::size_t j, CoopFrame& frame) {
        for (auto& a : frame.agents) {
          if (a.is_rsu || a.cameras.empty()) continue;
          if (opt.ego_only && a.id != frame.ego) continue;
          encoder::RawSample rs = make_sample(frame, a, opt);
          per_job[j].push_back(CameraSample{std::move(a.cameras), std::move(rs.boxes), std::move(rs.box_points)});
        }
      },
      progress);
  std::vector<CameraSample> out;
  for (auto& v : per_job)
    for (auto& s : v) out.push_back(std::move(s));
  return out;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct Eval {
  detection::ApSummary ap;
  double loss = 0;
};

Eval evaluate(encoder::CameraDetectorNet& net, const std::vector<CameraSample>& val,
              const encoder::CameraInputBuilder& builder, const encoder::DetectorConfig& cfg,
              const detection::TargetAssigner& assigner, const torch::Device& device) {
  net->eval();
  torch::NoGradGuard ng;
  const auto anchors = detection::generate_anchors(cfg.anchor_config());
  const BevGrid g = cfg.pillars.grid(), fg = cfg.feature_grid();
  detection::EvalConfig ec;
  ec.gt_range = {g.x_min_m, g.y_min_m, -3.0, g.x_max_m, g.y_max_m, 3.0};
  detection::ApEvaluator ev(ec);
  double loss = 0;
  const std::int64_t na = static_cast<std::int64_t>(anchors.size());
  for (const CameraSample& s : val) {
    const auto b = builder.build({&s.cameras}).to(device);
    const encoder::HeadOutput h = net->forward(b);
    detection::AssignmentTargets t;
    assigner.assign(s.boxes, t);
    const auto tb = encoder::make_target_batch({&t}, fg.height(), fg.width(), cfg.anchors.per_cell()).to(device);
    loss += encoder::detection_loss(h, tb, cfg.loss).total.item<double>();
    const auto cls = h.cls.to(torch::kCPU).contiguous(), box = h.box.to(torch::kCPU).contiguous(),
               dir = h.dir.to(torch::kCPU).contiguous();
    (void)na;
    const auto props = detection::decode_head(anchors, cls.data_ptr<float>(), box.data_ptr<float>(),
                                              dir.data_ptr<float>(), cfg.decode, cfg.coder);
    const auto dets = detection::to_detection_list(props, 0, 0).detections;
    ev.add_frame(dets, s.boxes, s.box_points);
  }
  net->train();
  return Eval{ev.summary(), val.empty() ? 0.0 : loss / val.size()};
}

nlohmann::ordered_json ap_json(const detection::ApSummary& s) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < s.thresholds.size(); ++i) {
    char k[16];
    std::snprintf(k, sizeof k, "%.1f", s.thresholds[i]);
    j["ap"][k] = s.ap[i];
  }
  j["num_gt"] = s.num_gt;
  j["num_detections"] = s.num_detections;
  j["frames"] = s.frames;
  return j;
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
  Args args;
  args.option("stage", "camera", "training stage (this file: camera)")
      .option("out", "", "output folder: camera_weights.pt, camera_manifest.json, train_log.txt (required)")
      .option("lidar-model", "", "LiDAR model folder (manifest.json): its DetectorConfig is used (grid, channels, "
                                 "anchors); camera-only head trained either way (LiDAR+camera fusion: not yet)")
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
      .flag("help", "this help");
  args.parse(argc, argv);
  if (args.flag_on("help")) {
    std::printf("usage: v2x_train --stage camera --out DIR [options]\n%s", args.help().c_str());
    return 0;
  }
  if (args.str("out").empty()) throw ArgError("--out is required");
  const std::string out = args.str("out");
  fs::create_directories(out);
  std::ofstream log_file(out + "/train_log.txt", std::ios::app);
  auto log = [&](const std::string& s) {
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
    log_file << s << "\n" << std::flush;
  };

  encoder::DetectorConfig det;
  std::string lidar_note = "none: camera-only head";
  if (!args.str("lidar-model").empty()) {
    det = encoder::read_manifest(args.str("lidar-model")).config;
    lidar_note = args.str("lidar-model") + " (its grid, channels, anchors)";
  } else {
    det.net.out_channels = static_cast<int>(args.integer("channels"));
  }
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
  validate_config(det, "v2x_train --stage camera");
  validate_config(cam, "v2x_train --stage camera");

  const int threads = static_cast<int>(std::max(1LL, args.integer("threads")));
  torch::Device device(torch::kCPU);
  if (args.str("device") == "cuda" || (args.str("device") == "auto" && torch::cuda::is_available()))
    device = torch::Device(torch::kCUDA);
  if (device.is_cpu()) at::set_num_threads(threads);
  const std::uint64_t seed = static_cast<std::uint64_t>(args.integer("seed"));
  torch::manual_seed(seed);

  auto jobs = [&](const std::string& presets, const std::string& seeds, int frames) {
    std::vector<SimJob> j;
    if (seeds == "none") return j;
    std::vector<std::string> ps;
    std::string cur;
    for (char c : presets + ",")
      if (c == ',') {
        if (!cur.empty()) ps.push_back(cur);
        cur.clear();
      } else cur += c;
    for (auto s : parse_seed_list(seeds))
      for (auto& p : ps) j.push_back(SimJob{p, s, frames, static_cast<int>(args.integer("frame-stride"))});
    return j;
  };
  const auto t_data = Clock::now();
  SampleOptions train_opt;
  train_opt.crop = det.pillars;
  SampleOptions val_opt = train_opt;
  val_opt.ego_only = true;
  std::mutex log_mu;  // progress comes from the simulator's worker threads
  auto progress = [&](const char* what) {
    return [&log, &log_mu, what, t_data](int done, int total) {
      if (done % 10 != 0 && done != total) return;
      std::lock_guard<std::mutex> lk(log_mu);
      char b[160];
      std::snprintf(b, sizeof b, "data: %s jobs %d/%d, %.1f s", what, done, total, seconds_since(t_data));
      log(b);
    };
  };
  const auto train = generate(jobs(args.str("train-presets"), args.str("train-seeds"),
                                   static_cast<int>(args.integer("train-frames"))), cam, train_opt, threads,
                              progress("train"));
  const auto val = generate(jobs(args.str("val-presets"), args.str("val-seeds"),
                                 static_cast<int>(args.integer("val-frames"))), cam, val_opt, threads, progress("val"));
  if (train.empty()) throw ArgError("no training samples (check --train-seeds / --train-frames)");
  {
    char b[256];
    std::snprintf(b, sizeof b, "data: %zu train agent-frames, %zu val ego-frames, %.1f s", train.size(), val.size(),
                  seconds_since(t_data));
    log(b);
  }

  const BevGrid fg = det.feature_grid();
  const encoder::CameraInputBuilder builder(cam, fg);
  const detection::TargetAssigner assigner(det.anchor_config(), det.assign, det.coder);
  encoder::CameraDetectorNet net(det, cam);
  net->to(device);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(args.number("lr")).weight_decay(0.01));
  const int B = static_cast<int>(std::max(1LL, args.integer("batch")));
  const int epochs = static_cast<int>(args.integer("epochs"));
  const long long max_steps_arg = args.integer("max-steps");
  const std::int64_t steps_per_epoch = (static_cast<std::int64_t>(train.size()) + B - 1) / B;
  const std::int64_t total_steps =
      max_steps_arg > 0 ? std::min<std::int64_t>(max_steps_arg, steps_per_epoch * epochs) : steps_per_epoch * epochs;
  const double time_budget = args.number("time-budget-s");
  const double lr0 = args.number("lr");
  Rng rng(seed);
  std::vector<double> losses;
  std::int64_t step = 0;
  const auto t0 = Clock::now();
  double running = 0;
  int running_n = 0;
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();

  auto save = [&](bool final_) {
    net->to(torch::kCPU);
    torch::save(net, out + "/camera_weights.pt.tmp");
    fs::rename(out + "/camera_weights.pt.tmp", out + "/camera_weights.pt");
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
    tr["steps"] = step;
    tr["seconds"] = seconds_since(t0);
    tr["train_agent_frames"] = train.size();
    tr["final"] = final_;
    m["training"] = tr;
    m["metrics"] = metrics;
    m["created_utc"] = utc_now();
    std::ofstream(out + "/" + encoder::kCameraManifestFile + std::string(".tmp")) << m.dump(2) << "\n";
    fs::rename(out + "/" + encoder::kCameraManifestFile + std::string(".tmp"), out + "/" + encoder::kCameraManifestFile);
  };

  net->train();
  bool stop = false;
  for (int ep = 0; ep < epochs && !stop; ++ep) {
    std::vector<int> order(train.size());
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.uniform_int(0, static_cast<int>(i) - 1)]);
    for (std::size_t s0 = 0; s0 < order.size() && !stop; s0 += B) {
      std::vector<const std::vector<CameraFrame>*> cams;
      std::vector<detection::AssignmentTargets> tg(std::min<std::size_t>(B, order.size() - s0));
      std::vector<const detection::AssignmentTargets*> tp;
      for (std::size_t j = 0; j < tg.size(); ++j) {
        const CameraSample& s = train[order[s0 + j]];
        cams.push_back(&s.cameras);
        assigner.assign(s.boxes, tg[j]);
        tp.push_back(&tg[j]);
      }
      const auto batch = builder.build(cams).to(device);
      const auto targets = encoder::make_target_batch(tp, fg.height(), fg.width(), det.anchors.per_cell()).to(device);
      const double frac = std::max(static_cast<double>(step) / std::max<std::int64_t>(1, total_steps),
                                   time_budget > 0 ? seconds_since(t0) / time_budget : 0.0);
      const double warm = std::min(1.0, (step + 1) / 20.0);
      const double lr = lr0 * warm * 0.5 * (1 + std::cos(M_PI * std::min(1.0, frac)));
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      const encoder::HeadOutput h = net->forward(batch);
      const encoder::LossTerms L = encoder::detection_loss(h, targets, det.loss);
      opt.zero_grad();
      L.total.backward();
      torch::nn::utils::clip_grad_norm_(net->parameters(), 10.0);
      opt.step();
      const double l = L.total.item<double>();
      losses.push_back(l);
      running += l, ++running_n;
      ++step;
      if (step % std::max(1LL, args.integer("log-every")) == 0) {
        char b[256];
        std::snprintf(b, sizeof b, "step %lld/%lld epoch %d loss %.4f lr %.2e %.1f s", static_cast<long long>(step),
                      static_cast<long long>(total_steps), ep, running / running_n, lr, seconds_since(t0));
        log(b);
        running = 0, running_n = 0;
      }
      if (args.integer("checkpoint-every") > 0 && step % args.integer("checkpoint-every") == 0) save(false);
      if (step >= total_steps || (time_budget > 0 && seconds_since(t0) > time_budget)) stop = true;
    }
  }
  if (!val.empty()) {
    const Eval e = evaluate(net, val, builder, det, assigner, device);
    metrics["val"] = ap_json(e.ap);
    metrics["val"]["loss"] = e.loss;
    metrics["val"]["frames_note"] = "ego view, GT = every vehicle in range (occluded too), held-out seeds";
    char b[256];
    std::snprintf(b, sizeof b, "val: loss %.4f AP@0.3 %.4f AP@0.5 %.4f AP@0.7 %.4f (%zu frames)", e.loss,
                  e.ap.ap.size() > 0 ? e.ap.ap[0] : NAN, e.ap.ap.size() > 1 ? e.ap.ap[1] : NAN,
                  e.ap.ap.size() > 2 ? e.ap.ap[2] : NAN, val.size());
    log(b);
  }
  save(true);
  if (args.flag_on("expect-loss-drop")) {
    if (losses.size() < 10) {
      log("expect-loss-drop: fewer than 10 steps");
      return 3;
    }
    const double first = std::accumulate(losses.begin(), losses.begin() + 5, 0.0) / 5;
    const double last = std::accumulate(losses.end() - 5, losses.end(), 0.0) / 5;
    char b[128];
    std::snprintf(b, sizeof b, "loss first-5 %.4f last-5 %.4f", first, last);
    log(b);
    if (!(last < 0.7 * first)) return 3;
  }
  return 0;
}

}  // namespace v2x::train
