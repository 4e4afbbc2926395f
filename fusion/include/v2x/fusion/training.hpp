#pragma once
// Training of the fusion networks (anchor fusion; the AttFuse module) with the single-agent detector frozen.
// Used by `v2x_train --stage fusion` (apps/v2x_train/fusion_stage.cpp) and by the CPU smoke test.
//
// One training sample = one ego frame:
//   every agent's cloud → frozen detector (NetDetector::perceive_batch, batched on the GPU) → AgentPerception;
//   each peer's message is made as the wire would deliver it (make_peer_input): a selector under the byte
//   budget chooses cells + anchors, values and anchor features are fake-quantized (v2x_comm_quant), the pose in
//   the message is the sender's true pose ⊕ noise, the message may be one or more frames old (latency);
//   the ego's pose estimate is noisy too; align_peers + build_anchor_queries exactly as at runtime;
//   queries are matched to the GT (ego frame, true ego pose) by rotated BEV IoU of their input box.
// Loss, averaged over the layers: score term + box_weight · smooth-L1 of each layer's residuals towards the matched
// GT (queries with IoU ≥ reg_iou), normalised by the number of positives / regressed queries. Score term: quality
// focal loss towards the IoU of the layer's box with the matched GT (quality_scores), else sigmoid focal loss on
// binary labels (IoU ≥ pos_iou positive, < neg_iou negative, otherwise ignored).
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "v2x/core/frame.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/detection/target_assigner.hpp"
#include "v2x/fusion/anchor_fusion.hpp"
#include "v2x/fusion/dense_fusion.hpp"
#include "v2x/fusion/perception.hpp"
#include "v2x/selection/selector.hpp"

namespace v2x::fusion {

enum class TrainSelector : std::uint8_t { TopK = 0, Conformal };
}  // namespace v2x::fusion
template <>
struct v2x::EnumNames<v2x::fusion::TrainSelector> {
  static constexpr std::array<std::string_view, 2> names{"top_k", "conformal"};
};

namespace v2x::fusion {

struct FusionTrainConfig {
  // What peers send (simulated wire).
  int budget_bytes = 16384;
  Quantization quant = Quantization::Int8;
  int max_anchors = 32;
  TrainSelector selector = TrainSelector::TopK;
  int top_k = 4096;
  // Augmentation: pose noise (σ drawn uniformly in [0, max] per message), message age in frames (0..max).
  double pose_sigma_max_m = 0.4;
  double yaw_sigma_max_deg = 0.4;
  int max_latency_frames = 2;
  // Share of the ego samples trained without any pose error and with same-frame messages, so the network learns
  // to trust exact peer boxes; the pose-uncertainty inputs (FusionConfig::align sigmas) are set per sample to the
  // σ drawn for it (0 for these), as the replay sets them to the noise it applies.
  double clean_fraction = 0.3;
  // GT used: vehicles with at least this many LiDAR returns (over all agents), inside the ego feature grid.
  int gt_min_points = 1;
  // Matching and loss.
  double pos_iou = 0.45;
  double neg_iou = 0.25;
  double reg_iou = 0.15;
  double focal_alpha = 0.25;
  double focal_gamma = 2.0;
  double box_weight = 2.0;
  double smooth_l1_beta = 1.0 / 9.0;
  // Score targets: the IoU of each layer's refined box with its GT (quality focal loss; 0 for unmatched queries),
  // so the score ranks boxes by localisation quality, which AP@0.7 rewards. false: binary labels (pos_iou/neg_iou).
  bool quality_scores = true;
  // Optimisation.
  double lr = 1e-3;
  double weight_decay = 1e-4;
  int steps = 2000;
  int batch_frames = 8;
  bool train_attn = true;
  std::uint64_t seed = 1;

  template <class V>
  void visit(V& v) {
    v("budget_bytes", budget_bytes, Range{256, 1 << 26});
    v("quant", quant);
    v("max_anchors", max_anchors, Range{0, 4096});
    v("selector", selector);
    v("top_k", top_k, Range{0, 1 << 24});
    v("pose_sigma_max_m", pose_sigma_max_m, Range{0, 10});
    v("yaw_sigma_max_deg", yaw_sigma_max_deg, Range{0, 20});
    v("max_latency_frames", max_latency_frames, Range{0, 20});
    v("clean_fraction", clean_fraction, Range{0, 1});
    v("gt_min_points", gt_min_points, Range{0, 1000});
    v("pos_iou", pos_iou, Range{0, 1});
    v("neg_iou", neg_iou, Range{0, 1});
    v("reg_iou", reg_iou, Range{0, 1});
    v("focal_alpha", focal_alpha, Range{0, 1});
    v("focal_gamma", focal_gamma, Range{0, 10});
    v("box_weight", box_weight, Range{0, 100});
    v("smooth_l1_beta", smooth_l1_beta, Range{0, 10});
    v("quality_scores", quality_scores);
    v("lr", lr, Range{1e-7, 1});
    v("weight_decay", weight_decay, Range{0, 1});
    v("steps", steps, Range{0, 10000000});
    v("batch_frames", batch_frames, Range{1, 1024});
    v("train_attn", train_attn);
    v("seed", seed);
  }
};

// The selector used to simulate a sender (top-k or conformal under the budget of cfg).
std::unique_ptr<selection::Selector> make_train_selector(const FusionTrainConfig& cfg);

// One agent after the frozen detector, at one time.
struct AgentObservation {
  AgentId id = 0;
  bool is_rsu = false;
  TimestampNs stamp_ns = 0;
  Pose T_world_lidar = Pose::Identity();  // true pose
  AgentPerception perception;
};

// The peer message as the wire delivers it: `selector` picks cells and anchors (from the sender's proposals) under
// its budget, values and anchor features are quantized + dequantized with `quant`, the message carries
// `believed_pose`; age = ego_stamp − sender stamp.
PeerInput make_peer_input(const AgentObservation& sender, selection::Selector& selector, Quantization quant,
                          const Pose& believed_pose, TimestampNs ego_stamp_ns, std::uint32_t sequence = 0);

// GT vehicles of a cooperative frame in an agent's LiDAR frame (true pose), inside `grid`, with ≥ min_points returns.
std::vector<Box3D> gt_in_agent_frame(const CoopFrame& frame, const Pose& T_world_lidar, const BevGrid& grid,
                                     int min_points);

struct FusionSample {
  AnchorQueries queries;   // one frame
  torch::Tensor label;     // (N) float: 1 positive, 0 negative, -1 ignore
  torch::Tensor gt_box;    // (N, 7) matched GT (valid where reg_mask)
  torch::Tensor reg_mask;  // (N) bool
  // AttFuse training (when requested): the stacked maps and the head's targets on the ego feature grid.
  std::optional<DenseStack> dense;
  std::optional<encoder::TargetBatch> head_targets;  // batch of 1
  FusionStats stats;
  int num_gt = 0;
};

// Builds one sample: align (runtime checks) → queries → matching. `assigner` non-null: also the dense stack and
// the head targets for AttFuse.
FusionSample make_fusion_sample(const EgoInput& ego, const std::vector<PeerInput>& peers, const std::vector<Box3D>& gt,
                                const FusionConfig& cfg, const FusionTrainConfig& tcfg,
                                const detection::TargetAssigner* assigner = nullptr);

struct AnchorLossTerms {
  torch::Tensor total, score, box;
  double num_pos = 0, num_reg = 0;
};
AnchorLossTerms anchor_fusion_loss(const AnchorFusionOutput& out, const torch::Tensor& label, const torch::Tensor& gt_box,
                                   const torch::Tensor& reg_mask, const FusionTrainConfig& cfg);

// Holds the trainable networks and their optimiser.
class FusionTrainer {
 public:
  FusionTrainer(const FusionConfig& cfg, const FusionTrainConfig& tcfg, int channels, torch::Device device);
  struct StepResult {
    double anchor_loss = 0, anchor_score = 0, anchor_box = 0, attn_loss = 0;
    double num_pos = 0;
    int queries = 0;
  };
  // One optimisation step over the samples (anchor fusion; AttFuse too when tcfg.train_attn and `detector` given).
  StepResult step(const std::vector<FusionSample>& batch, NetDetector* detector);
  // Loss without updating (eval mode).
  StepResult evaluate(const std::vector<FusionSample>& batch, NetDetector* detector);

  AnchorFusionNet& anchor() { return anchor_; }
  AttnFusion& attn() { return attn_; }

 private:
  StepResult run(const std::vector<FusionSample>& batch, NetDetector* detector, bool train);
  FusionConfig cfg_;
  FusionTrainConfig tcfg_;
  torch::Device device_;
  AnchorFusionNet anchor_;
  AttnFusion attn_;
  std::unique_ptr<torch::optim::AdamW> opt_anchor_, opt_attn_;
};

}  // namespace v2x::fusion
