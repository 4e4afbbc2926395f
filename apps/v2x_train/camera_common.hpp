#pragma once
// What the two modes of `v2x_train --stage camera` share (camera_stage.cpp: camera-only detector;
// camera_fusion.cpp: --fuse-lidar, the LiDAR+camera ModalityFusion): the log, simulator samples with rendered
// cameras (+ the agent's pillarized cloud), the validation accumulator and its JSON / log line, the AdamW loop with
// the cosine LR schedule and time budget, atomic file writes, the device choice.
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "sim_data.hpp"
#include "v2x/core/frame.hpp"
#include "v2x/detection/evaluation.hpp"
#include "v2x/detection/target_assigner.hpp"
#include "v2x/encoder/camera_config.hpp"
#include "v2x/encoder/config.hpp"
#include "v2x/encoder/network.hpp"
#include "v2x/encoder/pillarizer.hpp"

namespace v2x::train::camstage {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0);
std::string utc_now();  // "2026-01-02T03:04:05Z"

// Prints a line to stdout and appends it to <out_dir>/train_log.txt; thread-safe.
class StageLog {
 public:
  explicit StageLog(const std::string& out_dir);
  void operator()(const std::string& line);
  void printf(const char* fmt, ...) __attribute__((format(printf, 2, 3)));

 private:
  std::mutex mu_;
  std::ofstream file_;
};

// One agent-frame: its cameras (rendered at the camera net's input size), optionally its LiDAR cloud cropped and
// pillarized with the LiDAR model's Pillarizer, and the GT vehicle boxes (LiDAR frame; see make_sample).
struct CameraSample {
  std::vector<CameraFrame> cameras;
  encoder::Pillars pillars;  // empty unless generated with a Pillarizer
  std::vector<Box3D> boxes;
  std::vector<int> box_points;
};

struct CameraData {
  std::vector<CameraSample> train;  // every vehicle agent's view (RSUs have no cameras)
  std::vector<CameraSample> val;    // ego views of the held-out seeds; empty with --val-seeds none
};
// Runs the simulator jobs of --train-presets/-seeds/-frames and --val-presets/-seeds/-frames (--frame-stride),
// cameras rendered at cam's input size, clouds cropped to det's pillar range; with `pillarizer` every sample
// also holds its pillars. Logs progress; throws ArgError when there is no training sample.
CameraData generate_camera_data(const Args& args, const encoder::CameraBranchConfig& cam,
                                const encoder::DetectorConfig& det, const encoder::Pillarizer* pillarizer,
                                int threads, StageLog& log);

// Validation loss + AP (OpenCOOD protocol, GT range = the pillar grid's x/y, z in [-3, 3]) of one head's outputs.
struct Eval {
  detection::ApSummary ap;
  double loss = 0;  // mean per frame
  std::size_t frames = 0;
};
class ValAccumulator {
 public:
  explicit ValAccumulator(const encoder::DetectorConfig& det);
  // h: the head output of the one sample s (batch 1, any device).
  void add(const encoder::HeadOutput& h, const CameraSample& s);
  Eval result() const;

 private:
  encoder::DetectorConfig det_;
  detection::AnchorGrid anchors_;
  detection::TargetAssigner assigner_;
  detection::ApEvaluator ev_;
  double loss_sum_ = 0;
  std::size_t frames_ = 0;
};
// {"ap": {"0.3": …}, "num_gt", "num_detections", "frames", "loss", "frames_note"}.
nlohmann::ordered_json eval_json(const Eval& e);
// "<label>: loss 0.1234 AP@0.3 … AP@0.5 … AP@0.7 … (72 frames)".
std::string eval_line(const std::string& label, const Eval& e);

// The optimisation loop of both modes: AdamW, linear warm-up over 20 steps then cosine decay to 0 at the end of
// the steps or of the time budget (whichever comes first), gradient-norm clip 10, shuffled batches per epoch.
struct LoopOptions {
  int batch = 4;
  int epochs = 20;
  std::int64_t max_steps = 0;  // 0 = none
  double time_budget_s = 0;    // 0 = none
  double lr_peak = 0.002;
  double weight_decay = 0.01;
  std::int64_t log_every = 20;
  std::int64_t checkpoint_every = 200;  // 0 = never
  std::uint64_t seed = 1;
  // From --batch --epochs --max-steps --time-budget-s --lr --log-every --checkpoint-every --seed.
  static LoopOptions from_args(const Args& args);
};
struct LoopState {
  Clock::time_point t0 = Clock::now();
  std::int64_t step = 0, total_steps = 0;
  std::vector<double> losses;  // per step
  double seconds() const { return seconds_since(t0); }
};
// Learning rate of `step` (0-based) for a run of total_steps steps and a time budget (0 = none).
double cosine_lr(double lr_peak, std::int64_t step, std::int64_t total_steps, double elapsed_s, double time_budget_s);
// batch_loss(sample indices) → scalar loss with autograd to `params`. checkpoint() every checkpoint_every steps.
using BatchLoss = std::function<torch::Tensor(const std::vector<int>&)>;
LoopState run_train_loop(std::size_t num_samples, const std::vector<torch::Tensor>& params, const LoopOptions& opt,
                         const BatchLoss& batch_loss, StageLog& log, const std::function<void(const LoopState&)>& checkpoint);

// Writes `path` by write(path + ".tmp") then rename (readers never see a half-written file).
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);
void write_json_atomically(const std::string& path, const nlohmann::ordered_json& j);

// Selects the device (--device auto|cpu|cuda) and sets LibTorch's CPU threads.
torch::Device select_device(const std::string& name, int threads);

}  // namespace v2x::train::camstage
