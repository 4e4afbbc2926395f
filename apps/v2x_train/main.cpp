// v2x_train: trains the LiDAR encoder + detection head (encoder/) on samples generated on the fly by the
// simulator, validates with detection/'s OpenCOOD-protocol AP evaluator every epoch, checkpoints, and exports
// weights + manifest to --out (data/models/<name>/). Runs on CUDA when available, else on the CPU.
// Built on the GPU machine with V2X_TRAINER_ONLY (LibTorch + carried headers only): no Boost.Program_options,
// no yaml-cpp, no spdlog here.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "args.hpp"
#include "camera_stage.hpp"
#include "fusion_stage.hpp"
#include "sim_data.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/detection/decoder.hpp"
#include "v2x/detection/evaluation.hpp"
#include "v2x/encoder/manifest.hpp"
#include "v2x/encoder/network.hpp"
#include "v2x/encoder/training.hpp"

namespace fs = std::filesystem;
using namespace v2x;
using namespace v2x::encoder;
using v2x::train::Args;
using v2x::train::ArgError;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

class Log {
 public:
  void open(const std::string& path) { file_.open(path, std::ios::app); }
  template <class... A>
  void operator()(const char* fmt, A... a) {
    char buf[1024];
    if constexpr (sizeof...(A) == 0)
      std::snprintf(buf, sizeof buf, "%s", fmt);
    else
      std::snprintf(buf, sizeof buf, fmt, a...);
    std::lock_guard<std::mutex> lk(mu_);
    std::fputs(buf, stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (file_) file_ << buf << "\n" << std::flush;
  }

 private:
  std::mutex mu_;
  std::ofstream file_;
};
Log g_log;

// Architecture presets. "default" is what data/models ships (sized for ≤ 40 ms on 2 CPU cores);
// "slim" trains on a CPU in reasonable time; "tiny" is for the smoke test.
DetectorConfig config_for(const std::string& net) {
  DetectorConfig c;
  if (net == "default") {
  } else if (net == "slim") {
    c.net.pfn_channels = 32;
    c.net.block_channels = {32, 48, 64};
    c.net.block_layers = {1, 2, 2};
    c.net.up_channels = 32;
    c.net.out_channels = 48;
  } else if (net == "tiny") {  // also a smaller grid: ±25.6 m × ±12.8 m
    c.pillars.x_min_m = -25.6, c.pillars.x_max_m = 25.6;
    c.pillars.y_min_m = -12.8, c.pillars.y_max_m = 12.8;
    c.net.pfn_channels = 16;
    c.net.block_channels = {16, 32, 32};
    c.net.block_layers = {1, 1, 1};
    c.net.up_channels = 16;
    c.net.out_channels = 16;
  } else {
    throw ArgError("--net: unknown preset '" + net + "' (choose default, slim, tiny)");
  }
  return c;
}

std::vector<train::SimJob> make_jobs(const std::vector<std::string>& presets, const std::vector<std::uint64_t>& seeds,
                                     int frames, int stride) {
  std::vector<train::SimJob> jobs;
  for (const auto& s : seeds)
    for (const auto& p : presets) jobs.push_back(train::SimJob{p, s, frames, stride});
  return jobs;
}

// ---- batches: produced by worker threads, consumed in order ------------------------------------------------
struct Batch {
  PillarBatch pillars;
  TargetBatch targets;
  std::int64_t positives = 0;
};

class BatchLoader {
 public:
  // Sample rng for (epoch, batch, slot) is derived from `seed`, so batches do not depend on thread timing.
  BatchLoader(const std::vector<RawSample>& samples, const SampleEncoder& enc, const DetectorConfig& cfg,
              const AugmentConfig& aug, std::vector<std::vector<int>> plan, std::uint64_t seed, int epoch,
              int threads, int max_ahead)
      : samples_(samples), enc_(enc), aug_(aug), plan_(std::move(plan)), seed_(seed), epoch_(epoch),
        max_ahead_(max_ahead) {
    const BevGrid g = cfg.feature_grid();
    h_ = g.height();
    w_ = g.width();
    a_ = cfg.anchors.per_cell();
    for (int t = 0; t < threads; ++t) pool_.emplace_back([this] { work(); });
  }
  ~BatchLoader() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : pool_) t.join();
  }
  std::size_t size() const { return plan_.size(); }
  // Blocks until batch k is ready.
  Batch get(std::size_t k) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return ready_.count(k) > 0 || !error_.empty(); });
    if (!error_.empty()) throw std::runtime_error(error_);
    Batch b = std::move(ready_[k]);
    ready_.erase(k);
    consumed_ = k + 1;
    cv_.notify_all();
    return b;
  }

 private:
  void work() {
    for (;;) {
      std::size_t k;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || (next_ < plan_.size() && next_ < consumed_ + max_ahead_); });
        if (stop_) return;
        k = next_++;
      }
      try {
        std::vector<EncodedSample> enc;
        enc.reserve(plan_[k].size());
        for (std::size_t j = 0; j < plan_[k].size(); ++j) {
          RawSample s = samples_[plan_[k][j]];
          Rng rng = Rng(seed_).fork(static_cast<std::uint64_t>(epoch_) * 1000003ull + k * 1009ull + j);
          augment(s, aug_, rng);
          enc.push_back(enc_.encode(s));
        }
        std::vector<const Pillars*> ps;
        std::vector<const detection::AssignmentTargets*> ts;
        Batch b;
        for (const auto& e : enc) {
          ps.push_back(&e.pillars);
          ts.push_back(&e.targets);
          b.positives += e.targets.num_positive;
        }
        b.pillars = make_pillar_batch(ps);
        b.targets = make_target_batch(ts, h_, w_, a_);
        std::lock_guard<std::mutex> lk(mu_);
        ready_[k] = std::move(b);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lk(mu_);
        error_ = std::string("batch loader: ") + e.what();
      }
      cv_.notify_all();
    }
  }

  const std::vector<RawSample>& samples_;
  const SampleEncoder& enc_;
  AugmentConfig aug_;
  std::vector<std::vector<int>> plan_;
  std::uint64_t seed_;
  int epoch_;
  std::size_t max_ahead_;
  int h_ = 0, w_ = 0, a_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::size_t, Batch> ready_;
  std::size_t next_ = 0, consumed_ = 0;
  bool stop_ = false;
  std::string error_;
  std::vector<std::thread> pool_;
};

// ---- validation ------------------------------------------------------------------------------------------------
struct ValResult {
  detection::ApSummary all, min10;
  double seconds = 0;
};

ValResult validate(DetectorNet& net, const std::vector<RawSample>& val, const DetectorConfig& cfg,
                   const torch::Device& device, int threads, double eval_z_max) {
  const auto t0 = Clock::now();
  net->eval();
  torch::NoGradGuard ng;
  const Pillarizer pz(cfg.pillars);
  const auto anchors = detection::generate_anchors(cfg.anchor_config());
  const BevGrid g = cfg.pillars.grid();
  detection::EvalConfig ec;
  ec.gt_range = {g.x_min_m, g.y_min_m, -3.0, g.x_max_m, g.y_max_m, eval_z_max};
  detection::EvalConfig ec10 = ec;
  ec10.min_lidar_points = 10;
  detection::ApEvaluator ev(ec), ev10(ec10);
  const std::size_t B = 8;
  for (std::size_t s0 = 0; s0 < val.size(); s0 += B) {
    const std::size_t n = std::min(B, val.size() - s0);
    std::vector<Pillars> ps(n);
    for (std::size_t i = 0; i < n; ++i) ps[i] = pz.run(val[s0 + i].cloud);
    std::vector<const Pillars*> pp;
    for (auto& p : ps) pp.push_back(&p);
    const HeadOutput h = net->forward(make_pillar_batch(pp).to(device));
    const auto cls = h.cls.to(torch::kCPU).contiguous(), box = h.box.to(torch::kCPU).contiguous(),
               dir = h.dir.to(torch::kCPU).contiguous();
    const std::int64_t na = anchors.size();
    std::vector<std::vector<Detection>> dets(n);
    std::vector<std::thread> ths;
    std::atomic<std::size_t> next{0};
    for (int t = 0; t < std::max(1, std::min<int>(threads, static_cast<int>(n))); ++t)
      ths.emplace_back([&] {
        for (std::size_t i; (i = next++) < n;) {
          const auto props = detection::decode_head(anchors, cls.data_ptr<float>() + i * na,
                                                    box.data_ptr<float>() + i * na * 7,
                                                    dir.data_ptr<float>() + i * na * 2, cfg.decode, cfg.coder);
          dets[i] = detection::to_detection_list(props, 0, 0).detections;
        }
      });
    for (auto& t : ths) t.join();
    for (std::size_t i = 0; i < n; ++i) {
      const RawSample& s = val[s0 + i];
      ev.add_frame(dets[i], s.boxes, s.box_points);
      ev10.add_frame(dets[i], s.boxes, s.box_points);
    }
  }
  net->train();
  return ValResult{ev.summary(), ev10.summary(), seconds_since(t0)};
}

nlohmann::ordered_json ap_to_json(const detection::ApSummary& s) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < s.thresholds.size(); ++i) {
    char k[16];
    std::snprintf(k, sizeof k, "%.1f", s.thresholds[i]);
    j["ap"][k] = s.ap[i];
    j["ap_global_sort"][k] = s.ap_global_sort[i];
  }
  j["num_gt"] = s.num_gt;
  j["num_gt_ignored"] = s.num_gt_ignored;
  j["num_detections"] = s.num_detections;
  j["frames"] = s.frames;
  return j;
}

double ap_at(const detection::ApSummary& s, double thr) {
  for (std::size_t i = 0; i < s.thresholds.size(); ++i)
    if (std::abs(s.thresholds[i] - thr) < 1e-9) return s.ap[i];
  return NAN;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void save_cpu(DetectorNet& net, const torch::Device& device, const std::string& path) {
  net->to(torch::kCPU);
  torch::save(net, path + ".tmp");
  fs::rename(path + ".tmp", path);
  net->to(device);
}

// --eval-model: the held-out simulator split through the same validation code, for any model folder.
int evaluate_model(const Args& args) {
  const ModelManifest m = read_manifest(args.str("eval-model"));
  const DetectorConfig cfg = m.config;
  const int threads = static_cast<int>(std::max(1LL, args.integer("threads")));
  torch::Device device(torch::kCPU);
  if (args.str("device") == "cuda" || (args.str("device") == "auto" && torch::cuda::is_available()))
    device = torch::Device(torch::kCUDA);
  at::set_num_threads(args.integer("torch-threads") > 0 ? static_cast<int>(args.integer("torch-threads")) : threads);
  DetectorNet net(cfg);
  torch::load(net, m.weights_path());
  if (m.metrics.contains("weights_checksum")) {
    const double want = m.metrics["weights_checksum"].get<double>(), got = net->weights_checksum();
    if (std::abs(got - want) > 1e-9 * std::max(1.0, std::abs(want)))
      throw std::runtime_error(m.weights_path() + ": weights checksum differs from the manifest");
    g_log("weights checksum %.6f matches the manifest", got);
  }
  net->to(device);
  if (args.str("val-seeds") == "none") throw ArgError("--eval-model needs --val-seeds");
  const auto seeds = train::parse_seed_list(args.str("val-seeds"));
  train::SampleOptions opt;
  opt.crop = cfg.pillars;
  opt.ego_only = true;
  const auto jobs = make_jobs(args.list("val-presets"), seeds, static_cast<int>(args.integer("val-frames")),
                              static_cast<int>(args.integer("frame-stride")));
  const auto t0 = Clock::now();
  const auto samples = train::generate_sim_samples(jobs, opt, threads);
  g_log("split: presets %s, seeds %s, %zu ego frames (%.1f s to simulate)", args.str("val-presets").c_str(),
        args.str("val-seeds").c_str(), samples.size(), seconds_since(t0));
  const ValResult r = validate(net, samples, cfg, device, threads, args.number("eval-z-max"));
  g_log("all GT (%lld): AP@0.3 %.4f AP@0.5 %.4f AP@0.7 %.4f | global sort AP@0.5 %.4f AP@0.7 %.4f",
        static_cast<long long>(r.all.num_gt), ap_at(r.all, 0.3), ap_at(r.all, 0.5), ap_at(r.all, 0.7),
        r.all.ap_global_sort[1], r.all.ap_global_sort[2]);
  g_log(">= 10 returns (%lld, %lld ignored): AP@0.3 %.4f AP@0.5 %.4f AP@0.7 %.4f",
        static_cast<long long>(r.min10.num_gt), static_cast<long long>(r.min10.num_gt_ignored), ap_at(r.min10, 0.3),
        ap_at(r.min10, 0.5), ap_at(r.min10, 0.7));
  if (!args.str("report").empty()) {
    nlohmann::ordered_json j = {{"model", args.str("eval-model")},
                                {"presets", args.str("val-presets")},
                                {"seeds", args.str("val-seeds")},
                                {"frames_per_seed", args.integer("val-frames")},
                                {"gt_range", {cfg.pillars.x_min_m, cfg.pillars.y_min_m, -3.0, cfg.pillars.x_max_m,
                                              cfg.pillars.y_max_m, args.number("eval-z-max")}},
                                {"all_gt", ap_to_json(r.all)},
                                {"min10_points", ap_to_json(r.min10)}};
    std::ofstream(args.str("report")) << j.dump(2) << "\n";
  }
  return 0;
}

int run(int argc, char** argv) {
  Args args;
  args.option("out", "", "output folder: weights.pt, manifest.json, train_log.txt, checkpoints (required)")
      .option("name", "", "model name in the manifest (default: the --out folder's name)")
      .option("net", "default", "architecture preset: default | slim | tiny")
      .option("device", "auto", "auto | cpu | cuda")
      .option("threads", std::to_string(std::max(1u, std::thread::hardware_concurrency())),
              "CPU threads for simulation, encoding and decoding")
      .option("torch-threads", "0", "LibTorch intra-op threads (0: = --threads on the CPU, 4 with CUDA)")
      .option("seed", "1", "seed of shuffling, augmentation and initialisation")
      .option("train-presets", "urban,suburban,highway", "simulator presets for training")
      .option("train-seeds", "1-24", "simulator seeds (towns) for training")
      .option("train-frames", "12", "frames kept per (preset, seed)")
      .option("frame-stride", "3", "simulator steps (100 ms) between kept frames")
      .option("val-presets", "urban,suburban,highway", "simulator presets for validation (held out by seed)")
      .option("val-seeds", "9001-9003", "simulator seeds for validation; 'none' = no validation")
      .option("val-frames", "10", "validation frames per (preset, seed)")
      .option("min-points", "1", "training GT: vehicles with at least this many LiDAR returns")
      .option("epochs", "20", "epochs over the training samples")
      .option("batch", "16", "batch size")
      .option("lr", "0.002", "peak learning rate (AdamW, warm-up then cosine)")
      .option("weight-decay", "0.01", "AdamW weight decay")
      .option("time-budget-s", "0", "stop training after this many seconds (0 = none); the LR schedule follows "
                                    "max(step fraction, time fraction)")
      .option("max-steps", "0", "stop after this many optimiser steps (0 = none)")
      .option("eval-z-max", "3.0", "validation GT range z max (OpenCOOD: 1.0; 3.0 keeps trucks and buses)")
      .option("resume", "", "folder with checkpoint.pt + optimizer.pt + state.json to continue from")
      .option("git-commit", "", "git commit recorded in the manifest")
      .option("log-every", "50", "log the running loss every N steps")
      .option("eval-model", "", "evaluate this model folder on the --val-* split instead of training (no --out needed)")
      .option("report", "", "with --eval-model: write the AP summary as JSON here")
      .flag("no-augment", "disable data augmentation")
      .flag("expect-loss-drop", "exit 3 unless the mean loss of the last 5 steps is below 0.7 x that of the first 5")
      .flag("help", "this help");
  args.parse(argc, argv);
  if (args.flag_on("help")) {
    std::printf("usage: v2x_train --out DIR [options]\n%s", args.help().c_str());
    return 0;
  }
  if (!args.str("eval-model").empty()) return evaluate_model(args);
  if (args.str("out").empty()) throw ArgError("--out is required");
  const std::string out = args.str("out");
  fs::create_directories(out);
  g_log.open(out + "/train_log.txt");
  const std::string name = args.str("name").empty() ? fs::path(out).filename().string() : args.str("name");

  DetectorConfig cfg = config_for(args.str("net"));
  validate_config(cfg, "v2x_train");
  const int threads = static_cast<int>(std::max(1LL, args.integer("threads")));
  const std::uint64_t seed = static_cast<std::uint64_t>(args.integer("seed"));
  torch::Device device(torch::kCPU);
  const std::string dev = args.str("device");
  if (dev == "cuda" || (dev == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) throw ArgError("--device cuda: CUDA is not available");
    device = torch::Device(torch::kCUDA);
  } else if (dev != "cpu" && dev != "auto") {
    throw ArgError("--device: choose auto, cpu or cuda");
  }
  int torch_threads = static_cast<int>(args.integer("torch-threads"));
  if (torch_threads <= 0) torch_threads = device.is_cuda() ? 4 : threads;
  at::set_num_threads(torch_threads);
  torch::manual_seed(seed);
  g_log("v2x_train %s: device %s, %d threads, net '%s', feature grid %s, %d anchors/cell", name.c_str(),
        device.is_cuda() ? "cuda" : "cpu", threads, args.str("net").c_str(), cfg.feature_grid().describe().c_str(),
        cfg.anchors.per_cell());

  // ---- data -------------------------------------------------------------------------------------------------
  const auto t_data = Clock::now();
  train::SampleOptions opt;
  opt.crop = cfg.pillars;
  opt.min_points = static_cast<int>(args.integer("min-points"));
  const auto train_seeds = train::parse_seed_list(args.str("train-seeds"));
  const auto train_jobs = make_jobs(args.list("train-presets"), train_seeds, static_cast<int>(args.integer("train-frames")),
                                    static_cast<int>(args.integer("frame-stride")));
  std::vector<train::SimJob> val_jobs;
  std::vector<std::uint64_t> val_seeds;
  if (args.str("val-seeds") != "none") {
    val_seeds = train::parse_seed_list(args.str("val-seeds"));
    for (auto s : val_seeds)
      if (std::find(train_seeds.begin(), train_seeds.end(), s) != train_seeds.end())
        throw ArgError("--val-seeds overlaps --train-seeds (seed " + std::to_string(s) + "): validation must be held out");
    val_jobs = make_jobs(args.list("val-presets"), val_seeds, static_cast<int>(args.integer("val-frames")),
                         static_cast<int>(args.integer("frame-stride")));
  }
  auto report = [](const char* what) {
    return [what](int d, int n) {
      if (d == n || d % std::max(1, n / 10) == 0) g_log("  %s: %d/%d simulator runs", what, d, n);
    };
  };
  std::vector<RawSample> train_samples = train::generate_sim_samples(train_jobs, opt, threads, report("train data"));
  train::SampleOptions vopt = opt;
  vopt.ego_only = true;
  std::vector<RawSample> val_samples =
      val_jobs.empty() ? std::vector<RawSample>{} : train::generate_sim_samples(val_jobs, vopt, threads, report("val data"));
  std::size_t train_boxes = 0, train_points = 0;
  for (const auto& s : train_samples) {
    train_boxes += s.boxes.size();
    train_points += s.cloud.size();
  }
  const double data_s = seconds_since(t_data);
  g_log("data: %zu train samples (%zu boxes, %.0f points/sample), %zu val frames, %.1f s", train_samples.size(),
        train_boxes, train_samples.empty() ? 0.0 : double(train_points) / train_samples.size(), val_samples.size(), data_s);
  if (train_samples.empty()) throw std::runtime_error("no training samples");

  // ---- model --------------------------------------------------------------------------------------------------
  DetectorNet net(cfg);
  net->to(device);
  net->train();
  const double lr_max = args.number("lr");
  torch::optim::AdamW optim(net->parameters(), torch::optim::AdamWOptions(lr_max).weight_decay(args.number("weight-decay")));
  int start_epoch = 0;
  std::int64_t step = 0;
  if (!args.str("resume").empty()) {
    const std::string r = args.str("resume");
    torch::load(net, r + "/checkpoint.pt", device);
    torch::load(optim, r + "/optimizer.pt", device);
    std::ifstream in(r + "/state.json");
    nlohmann::json st;
    in >> st;
    start_epoch = st.at("epoch").get<int>() + 1;
    step = st.at("step").get<std::int64_t>();
    g_log("resumed from %s at epoch %d, step %lld", r.c_str(), start_epoch, static_cast<long long>(step));
  }
  g_log("model: %lld parameters", static_cast<long long>(net->num_parameters()));

  const SampleEncoder encoder(cfg);
  AugmentConfig aug;
  aug.enabled = !args.flag_on("no-augment");
  const int epochs = static_cast<int>(args.integer("epochs"));
  const std::size_t B = static_cast<std::size_t>(std::max(1LL, args.integer("batch")));
  const std::size_t batches_per_epoch = std::max<std::size_t>(1, train_samples.size() / B);
  const std::int64_t total_steps = static_cast<std::int64_t>(batches_per_epoch) * epochs;
  const double budget_s = args.number("time-budget-s");
  const std::int64_t max_steps = args.integer("max-steps");
  const int log_every = static_cast<int>(std::max(1LL, args.integer("log-every")));
  const double eval_z_max = args.number("eval-z-max");

  const auto t_train = Clock::now();
  double train_s_before = 0;  // (resumed runs do not know the earlier wall time; recorded per call in the log)
  std::vector<double> first_losses, last_losses;
  nlohmann::ordered_json history = nlohmann::ordered_json::array();
  ValResult last_val;
  bool have_val = false;
  bool stop = false;
  int last_epoch = start_epoch - 1;
  for (int epoch = start_epoch; epoch < epochs && !stop; ++epoch) {
    Rng rng = Rng(seed).fork(0xE90C + epoch);
    std::vector<int> perm(train_samples.size());
    std::iota(perm.begin(), perm.end(), 0);
    for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.next_u64() % i]);  // Fisher–Yates
    std::vector<std::vector<int>> plan(batches_per_epoch);
    for (std::size_t b = 0; b < batches_per_epoch; ++b)
      for (std::size_t j = 0; j < B; ++j) plan[b].push_back(perm[(b * B + j) % perm.size()]);
    BatchLoader loader(train_samples, encoder, cfg, aug, std::move(plan), seed, epoch,
                       std::max(1, threads - (device.is_cuda() ? 1 : 0)), 2 * threads + 4);
    torch::Tensor acc_total = torch::zeros({}, device), acc_cls = torch::zeros({}, device),
                  acc_box = torch::zeros({}, device), acc_dir = torch::zeros({}, device);
    int acc_n = 0;
    double epoch_loss_sum = 0;
    int epoch_loss_n = 0;
    const auto t_epoch = Clock::now();
    std::size_t samples_seen = 0;
    for (std::size_t k = 0; k < loader.size(); ++k) {
      const double progress = std::max(total_steps > 0 ? double(step) / total_steps : 0.0,
                                       budget_s > 0 ? seconds_since(t_train) / budget_s : 0.0);
      if ((budget_s > 0 && seconds_since(t_train) > budget_s) || (max_steps > 0 && step >= max_steps)) {
        stop = true;
        break;
      }
      // Linear warm-up over the first 3 %, then cosine to 1 % of the peak.
      const double warm = 0.03;
      const double lr = progress < warm ? lr_max * (0.1 + 0.9 * progress / warm)
                                        : lr_max * (0.01 + 0.99 * 0.5 * (1 + std::cos(M_PI * std::min(1.0, (progress - warm) / (1 - warm)))));
      for (auto& group : optim.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);

      Batch b = loader.get(k);
      const PillarBatch pb = b.pillars.to(device);
      const TargetBatch tb = b.targets.to(device);
      const HeadOutput h = net->forward(pb);
      const LossTerms L = detection_loss(h, tb, cfg.loss);
      optim.zero_grad();
      L.total.backward();
      torch::nn::utils::clip_grad_norm_(net->parameters(), 10.0);
      optim.step();
      ++step;
      samples_seen += static_cast<std::size_t>(pb.batch_size);
      acc_total += L.total.detach();
      acc_cls += L.cls.detach();
      acc_box += L.box.detach();
      acc_dir += L.dir.detach();
      ++acc_n;
      const bool need_item = args.flag_on("expect-loss-drop");
      if (need_item) {
        const double v = L.total.item<double>();
        if (first_losses.size() < 5) first_losses.push_back(v);
        last_losses.push_back(v);
        if (last_losses.size() > 5) last_losses.erase(last_losses.begin());
      }
      if (acc_n == log_every || k + 1 == loader.size()) {
        const double n = acc_n;
        const double tot = acc_total.item<double>() / n;
        epoch_loss_sum += tot * n;
        epoch_loss_n += acc_n;
        g_log("epoch %d step %lld  loss %.4f (cls %.4f box %.4f dir %.4f)  lr %.2e  %.1f samples/s  %.0f s", epoch,
              static_cast<long long>(step), tot, acc_cls.item<double>() / n, acc_box.item<double>() / n,
              acc_dir.item<double>() / n, lr, samples_seen / std::max(1e-9, seconds_since(t_epoch)),
              seconds_since(t_train));
        acc_total.zero_();
        acc_cls.zero_();
        acc_box.zero_();
        acc_dir.zero_();
        acc_n = 0;
      }
    }
    if (acc_n > 0) {  // an interrupted epoch's unlogged tail
      const double tot = acc_total.item<double>() / acc_n;
      epoch_loss_sum += tot * acc_n;
      epoch_loss_n += acc_n;
    }
    last_epoch = epoch;
    nlohmann::ordered_json h = {{"epoch", epoch}, {"step", step}, {"loss", epoch_loss_n ? epoch_loss_sum / epoch_loss_n : NAN},
                                {"seconds", seconds_since(t_train)}};
    if (!val_samples.empty()) {
      last_val = validate(net, val_samples, cfg, device, threads, eval_z_max);
      have_val = true;
      g_log("epoch %d validation (%zu frames, %.1f s): AP@0.3 %.3f AP@0.5 %.3f AP@0.7 %.3f | >=10 pts: AP@0.5 %.3f AP@0.7 %.3f",
            epoch, val_samples.size(), last_val.seconds, ap_at(last_val.all, 0.3), ap_at(last_val.all, 0.5),
            ap_at(last_val.all, 0.7), ap_at(last_val.min10, 0.5), ap_at(last_val.min10, 0.7));
      h["val"] = ap_to_json(last_val.all);
      h["val_min10_points"] = ap_to_json(last_val.min10);
    }
    history.push_back(h);
    save_cpu(net, device, out + "/checkpoint.pt");
    torch::save(optim, out + "/optimizer.pt");
    {
      std::ofstream st(out + "/state.json");
      st << nlohmann::ordered_json{{"epoch", epoch}, {"step", step}}.dump() << "\n";
    }
  }
  const double train_s = seconds_since(t_train) + train_s_before;

  // ---- export -----------------------------------------------------------------------------------------------------
  ModelManifest m;
  m.name = name;
  m.config = cfg;
  m.git_commit = args.str("git-commit");
  m.created_utc = utc_now();
  nlohmann::ordered_json tr = nlohmann::ordered_json::object();
  for (const auto& [k, v] : args.values()) tr["args"][k] = v;
  tr["device"] = device.is_cuda() ? "cuda" : "cpu";
  tr["train_presets"] = args.list("train-presets");
  tr["train_seeds"] = train_seeds;
  tr["val_presets"] = args.list("val-presets");
  tr["val_seeds"] = val_seeds;
  tr["train_samples"] = train_samples.size();
  tr["val_frames"] = val_samples.size();
  tr["augment"] = config_to_json(aug);
  tr["steps"] = step;
  tr["epochs_completed"] = last_epoch + 1;
  tr["data_generation_s"] = data_s;
  tr["training_s"] = train_s;
  tr["history"] = history;
  m.training = tr;
  if (have_val) {
    m.metrics["split"] = "simulator validation: presets " + args.str("val-presets") + ", seeds " + args.str("val-seeds") +
                         " (held out), ego view, no fusion";
    m.metrics["gt_range"] = std::vector<double>{cfg.pillars.x_min_m, cfg.pillars.y_min_m, -3.0, cfg.pillars.x_max_m,
                                                cfg.pillars.y_max_m, eval_z_max};
    m.metrics["all_gt"] = ap_to_json(last_val.all);
    m.metrics["min10_points"] = ap_to_json(last_val.min10);
  }
  net->to(torch::kCPU);
  m.metrics["weights_checksum"] = net->weights_checksum();
  net->to(device);
  save_cpu(net, device, out + "/" + m.weights_file);
  write_manifest(m, out);
  g_log("exported %s/%s + manifest.json after %lld steps, %.1f s training", out.c_str(), m.weights_file.c_str(),
        static_cast<long long>(step), train_s);

  if (args.flag_on("expect-loss-drop")) {
    const auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / std::max<std::size_t>(1, v.size()); };
    const double a = mean(first_losses), b = mean(last_losses);
    g_log("loss first-5 mean %.4f, last-5 mean %.4f", a, b);
    if (!(b < 0.7 * a)) {
      g_log("FAIL: the loss did not fall by 30 %");
      return 3;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (v2x::train::wants_fusion_stage(argc, argv)) return v2x::train::run_fusion_stage(argc, argv);
  try {
    if (v2x::train::wants_camera_stage(argc, argv)) return v2x::train::run_camera_stage(argc, argv);
    return run(argc, argv);
  } catch (const ArgError& e) {
    std::fprintf(stderr, "v2x_train: %s\n", e.what());
    return 2;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "v2x_train: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "v2x_train: %s\n", e.what());
    return 1;
  }
}
