#include "camera_common.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <numeric>
#include <stdexcept>

#include "v2x/core/rng.hpp"
#include "v2x/detection/anchors.hpp"
#include "v2x/detection/decoder.hpp"

namespace fs = std::filesystem;

namespace v2x::train::camstage {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// ---- log -------------------------------------------------------------------------------------------------------

StageLog::StageLog(const std::string& out_dir) : file_(out_dir + "/train_log.txt", std::ios::app) {}

void StageLog::operator()(const std::string& line) {
  std::lock_guard<std::mutex> lk(mu_);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  file_ << line << "\n" << std::flush;
}

void StageLog::printf(const char* fmt, ...) {
  char b[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  (*this)(b);
}

// ---- data ------------------------------------------------------------------------------------------------------

namespace {

std::vector<CameraSample> generate(const std::vector<SimJob>& jobs, const encoder::CameraBranchConfig& cam,
                                   const SampleOptions& opt, const encoder::Pillarizer* pillarizer, int threads,
                                   const std::function<void(int, int)>& progress) {
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
          encoder::RawSample rs = make_sample(frame, a, opt);  // cloud cropped to opt.crop + margin
          CameraSample s{std::move(a.cameras), {}, std::move(rs.boxes), std::move(rs.box_points)};
          if (pillarizer) s.pillars = pillarizer->run(rs.cloud);
          per_job[j].push_back(std::move(s));
        }
      },
      progress);
  std::vector<CameraSample> out;
  for (auto& v : per_job)
    for (auto& s : v) out.push_back(std::move(s));
  return out;
}

std::vector<SimJob> make_jobs(const Args& args, const std::string& presets_key, const std::string& seeds_key,
                              const std::string& frames_key) {
  std::vector<SimJob> jobs;
  if (args.str(seeds_key) == "none") return jobs;
  std::vector<std::uint64_t> seeds;
  try {
    seeds = parse_seed_list(args.str(seeds_key));
  } catch (const std::exception& e) {
    throw ArgError("--" + seeds_key + ": " + e.what());
  }
  const int frames = static_cast<int>(args.integer(frames_key));
  const int stride = static_cast<int>(args.integer("frame-stride"));
  for (auto s : seeds)
    for (const auto& p : args.list(presets_key)) jobs.push_back(SimJob{p, s, frames, stride});
  return jobs;
}

// Bytes held by the images and pillars of `samples` (the bulk of the pools).
double sample_bytes(const std::vector<CameraSample>& samples) {
  double b = 0;
  for (const CameraSample& s : samples) {
    for (const CameraFrame& c : s.cameras) b += static_cast<double>(c.image.rgb.size());
    b += static_cast<double>(s.pillars.features.size() * sizeof(float) + s.pillars.point_cell.size() * sizeof(std::int32_t));
  }
  return b;
}

}  // namespace

CameraData generate_camera_data(const Args& args, const encoder::CameraBranchConfig& cam,
                                const encoder::DetectorConfig& det, const encoder::Pillarizer* pillarizer,
                                int threads, StageLog& log) {
  const auto t0 = Clock::now();
  SampleOptions train_opt;
  train_opt.crop = det.pillars;
  SampleOptions val_opt = train_opt;
  val_opt.ego_only = true;
  auto progress = [&log, t0](const char* what) {
    return [&log, what, t0](int done, int total) {  // called from the simulator's worker threads
      if (done % 10 == 0 || done == total) log.printf("data: %s jobs %d/%d, %.1f s", what, done, total, seconds_since(t0));
    };
  };
  CameraData d;
  d.train = generate(make_jobs(args, "train-presets", "train-seeds", "train-frames"), cam, train_opt, pillarizer,
                     threads, progress("train"));
  d.val = generate(make_jobs(args, "val-presets", "val-seeds", "val-frames"), cam, val_opt, pillarizer, threads,
                   progress("val"));
  if (d.train.empty()) throw ArgError("no training samples (check --train-seeds / --train-frames)");
  log.printf("data: %zu train agent-frames, %zu val ego-frames, %.0f MiB, %.1f s", d.train.size(), d.val.size(),
             (sample_bytes(d.train) + sample_bytes(d.val)) / 1048576.0, seconds_since(t0));
  return d;
}

// ---- validation ------------------------------------------------------------------------------------------------

namespace {
detection::EvalConfig eval_config(const encoder::DetectorConfig& det) {
  const BevGrid g = det.pillars.grid();
  detection::EvalConfig ec;
  ec.gt_range = {g.x_min_m, g.y_min_m, -3.0, g.x_max_m, g.y_max_m, 3.0};
  return ec;
}
}  // namespace

ValAccumulator::ValAccumulator(const encoder::DetectorConfig& det)
    : det_(det), anchors_(detection::generate_anchors(det.anchor_config())),
      assigner_(det.anchor_config(), det.assign, det.coder), ev_(eval_config(det)) {}

void ValAccumulator::add(const encoder::HeadOutput& h, const CameraSample& s) {
  const BevGrid fg = det_.feature_grid();
  detection::AssignmentTargets t;
  assigner_.assign(s.boxes, t);
  const auto tb = encoder::make_target_batch({&t}, fg.height(), fg.width(), det_.anchors.per_cell()).to(h.cls.device());
  loss_sum_ += encoder::detection_loss(h, tb, det_.loss).total.item<double>();
  const auto cls = h.cls.to(torch::kCPU).contiguous(), box = h.box.to(torch::kCPU).contiguous(),
             dir = h.dir.to(torch::kCPU).contiguous();
  const auto props = detection::decode_head(anchors_, cls.data_ptr<float>(), box.data_ptr<float>(),
                                            dir.data_ptr<float>(), det_.decode, det_.coder);
  ev_.add_frame(detection::to_detection_list(props, 0, 0).detections, s.boxes, s.box_points);
  ++frames_;
}

Eval ValAccumulator::result() const {
  return Eval{ev_.summary(), frames_ == 0 ? 0.0 : loss_sum_ / static_cast<double>(frames_), frames_};
}

nlohmann::ordered_json eval_json(const Eval& e) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < e.ap.thresholds.size(); ++i) {
    char k[16];
    std::snprintf(k, sizeof k, "%.1f", e.ap.thresholds[i]);
    j["ap"][k] = e.ap.ap[i];
  }
  j["num_gt"] = e.ap.num_gt;
  j["num_detections"] = e.ap.num_detections;
  j["frames"] = e.ap.frames;
  j["loss"] = e.loss;
  j["frames_note"] = "ego view, GT = every vehicle in range (occluded too), held-out seeds";
  return j;
}

std::string eval_line(const std::string& label, const Eval& e) {
  auto ap = [&](std::size_t i) { return i < e.ap.ap.size() ? e.ap.ap[i] : NAN; };
  char b[256];
  std::snprintf(b, sizeof b, "%s: loss %.4f AP@0.3 %.4f AP@0.5 %.4f AP@0.7 %.4f (%zu frames)", label.c_str(), e.loss,
                ap(0), ap(1), ap(2), e.frames);
  return b;
}

// ---- training loop ---------------------------------------------------------------------------------------------

LoopOptions LoopOptions::from_args(const Args& args) {
  LoopOptions o;
  o.batch = static_cast<int>(std::max(1LL, args.integer("batch")));
  o.epochs = static_cast<int>(args.integer("epochs"));
  o.max_steps = args.integer("max-steps");
  o.time_budget_s = args.number("time-budget-s");
  o.lr_peak = args.number("lr");
  o.log_every = std::max(1LL, args.integer("log-every"));
  o.checkpoint_every = args.integer("checkpoint-every");
  o.seed = static_cast<std::uint64_t>(args.integer("seed"));
  return o;
}

double cosine_lr(double lr_peak, std::int64_t step, std::int64_t total_steps, double elapsed_s, double time_budget_s) {
  const double frac = std::max(static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, total_steps)),
                               time_budget_s > 0 ? elapsed_s / time_budget_s : 0.0);
  const double warm = std::min(1.0, static_cast<double>(step + 1) / 20.0);
  return lr_peak * warm * 0.5 * (1 + std::cos(M_PI * std::min(1.0, frac)));
}

LoopState run_train_loop(std::size_t num_samples, const std::vector<torch::Tensor>& params, const LoopOptions& o,
                         const BatchLoss& batch_loss, StageLog& log,
                         const std::function<void(const LoopState&)>& checkpoint) {
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr_peak).weight_decay(o.weight_decay));
  const std::int64_t B = o.batch;
  const std::int64_t steps_per_epoch = (static_cast<std::int64_t>(num_samples) + B - 1) / B;
  LoopState st;
  st.total_steps = o.max_steps > 0 ? std::min<std::int64_t>(o.max_steps, steps_per_epoch * o.epochs)
                                   : steps_per_epoch * o.epochs;
  Rng rng(o.seed);
  double running = 0;
  int running_n = 0;
  bool stop = st.total_steps <= 0;
  for (int ep = 0; ep < o.epochs && !stop; ++ep) {
    std::vector<int> order(num_samples);
    std::iota(order.begin(), order.end(), 0);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.uniform_int(0, static_cast<int>(i) - 1)]);
    for (std::size_t s0 = 0; s0 < order.size() && !stop; s0 += B) {
      const std::vector<int> idx(order.begin() + s0, order.begin() + std::min(order.size(), s0 + B));
      const double lr = cosine_lr(o.lr_peak, st.step, st.total_steps, st.seconds(), o.time_budget_s);
      for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
      const torch::Tensor loss = batch_loss(idx);
      opt.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(params, 10.0);
      opt.step();
      const double l = loss.item<double>();
      st.losses.push_back(l);
      running += l, ++running_n;
      ++st.step;
      if (st.step % o.log_every == 0) {
        log.printf("step %lld/%lld epoch %d loss %.4f lr %.2e %.1f s", static_cast<long long>(st.step),
                   static_cast<long long>(st.total_steps), ep, running / running_n, lr, st.seconds());
        running = 0, running_n = 0;
      }
      if (o.checkpoint_every > 0 && st.step % o.checkpoint_every == 0 && checkpoint) checkpoint(st);
      if (st.step >= st.total_steps || (o.time_budget_s > 0 && st.seconds() > o.time_budget_s)) stop = true;
    }
  }
  return st;
}

// ---- files -----------------------------------------------------------------------------------------------------

void write_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = path + ".tmp";
  write(tmp);
  fs::rename(tmp, path);
}

void write_json_atomically(const std::string& path, const nlohmann::ordered_json& j) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp);
    f << j.dump(2) << "\n";
    if (!f) throw std::runtime_error(tmp + ": write failed");
  });
}

torch::Device select_device(const std::string& name, int threads) {
  if (name != "auto" && name != "cpu" && name != "cuda") throw ArgError("--device: choose auto, cpu or cuda");
  if (name == "cuda" && !torch::cuda::is_available()) throw ArgError("--device cuda: CUDA is not available");
  torch::Device device(torch::kCPU);
  if (name == "cuda" || (name == "auto" && torch::cuda::is_available())) device = torch::Device(torch::kCUDA);
  if (device.is_cpu()) at::set_num_threads(threads);
  return device;
}

}  // namespace v2x::train::camstage
