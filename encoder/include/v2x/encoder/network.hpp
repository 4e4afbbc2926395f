#pragma once
// The learned LiDAR detector as LibTorch modules: one definition, trained on the GPU by apps/v2x_train and run
// on the CPU by LidarDetector. Shapes: B batch, P pillars (all samples of the batch), N points per pillar,
// F = kPointFeatures, Hp×Wp pillar grid, H×W feature grid (= pillar grid / output stride), A anchors per cell.
#include <torch/torch.h>

#include <vector>

#include "v2x/encoder/config.hpp"
#include "v2x/detection/target_assigner.hpp"
#include "v2x/encoder/pillarizer.hpp"

namespace v2x::encoder {

// Pillarized points of a batch, concatenated.
struct PillarBatch {
  torch::Tensor features;  // (M, F) float32, all kept points of the batch
  torch::Tensor index;     // (M) int64, b * Hp * Wp + iy * Wp + ix: the BEV cell (pillar) of each point
  int batch_size = 0;
  int grid_h = 0, grid_w = 0;  // pillar grid Hp, Wp

  PillarBatch to(const torch::Device& device) const;
};
// Packs per-sample pillars (all from the same Pillarizer) into one batch on the CPU.
PillarBatch make_pillar_batch(const std::vector<const Pillars*>& samples);

// Pillar feature net + scatter: Linear + BN + ReLU per point, max over each pillar's points, written into the
// BEV pseudo-image; empty pillars are 0.
class PillarFeatureNetImpl : public torch::nn::Module {
 public:
  PillarFeatureNetImpl(int in_features, int out_channels);
  // → (B, C, Hp, Wp). In eval mode on the CPU without autograd, a fused hand-written loop computes the same
  // values (forward_cpu_inference); set_fast_inference(false) forces the LibTorch ops (tests compare the two).
  torch::Tensor forward(const PillarBatch& batch);
  torch::Tensor forward_cpu_inference(const PillarBatch& batch);
  void set_fast_inference(bool on) { fast_inference_ = on; }

 private:
  bool fast_inference_ = true;
  torch::nn::Linear linear_{nullptr};
  torch::nn::BatchNorm1d bn_{nullptr};
};
TORCH_MODULE(PillarFeatureNet);

class BackboneImpl : public torch::nn::Module {
 public:
  BackboneImpl(int in_channels, const NetConfig& cfg);
  // (B, Cp, Hp, Wp) pseudo-image → (B, out_channels, Hp / s0, Wp / s0).
  torch::Tensor forward(torch::Tensor x);
  // Inference only: folds every eval-mode BatchNorm2d into the convolution before it (one pass less over each
  // feature map; same outputs up to float rounding). The module cannot be trained afterwards.
  void fold_batchnorm();

 private:
  std::vector<torch::nn::Sequential> blocks_;
  std::vector<torch::nn::Sequential> ups_;
  torch::nn::Sequential fuse_{nullptr};
};
TORCH_MODULE(Backbone);

// Head output, channels-last per anchor so that element (b, iy, ix, a) matches anchor (iy, ix, a).
struct HeadOutput {
  torch::Tensor cls;       // (B, H, W, A) logits
  torch::Tensor box;       // (B, H, W, A, 7) encoded box residuals (detection's ResidualBoxCoder)
  torch::Tensor dir;       // (B, H, W, A, 2) direction-bin logits
  torch::Tensor features;  // (B, C, H, W) the BEV feature map
};

class DetectionHeadImpl : public torch::nn::Module {
 public:
  DetectionHeadImpl(int in_channels, int num_anchors);
  HeadOutput forward(const torch::Tensor& features);

 private:
  int anchors_;
  torch::nn::Conv2d cls_{nullptr}, box_{nullptr}, dir_{nullptr};
};
TORCH_MODULE(DetectionHead);

class DetectorNetImpl : public torch::nn::Module {
 public:
  explicit DetectorNetImpl(const DetectorConfig& cfg);
  HeadOutput forward(const PillarBatch& batch);
  std::int64_t num_parameters() const;
  // Σ|x| over every parameter and buffer, in double: recorded in the manifest at export and checked on load,
  // so weights that do not load bit-exactly (another LibTorch version, a truncated file) are noticed.
  double weights_checksum() const;
  // Inference only (after loading and checking the weights): Backbone::fold_batchnorm. Switches to eval mode.
  void fold_batchnorm_for_inference();

 private:
  PillarFeatureNet pfn_{nullptr};
  Backbone backbone_{nullptr};
  DetectionHead head_{nullptr};
};
TORCH_MODULE(DetectorNet);

// Training targets of a batch (from detection's target assignment), channels-last like HeadOutput.
struct TargetBatch {
  torch::Tensor labels;  // (B, H, W, A) float: 1 positive, 0 negative, -1 ignored
  torch::Tensor box;     // (B, H, W, A, 7) encoded residuals, valid where labels == 1
  torch::Tensor dir;     // (B, H, W, A) int64 direction bin, valid where labels == 1
  TargetBatch to(const torch::Device& device) const;
};
// Packs per-sample assignment targets (all for the same anchor grid of H*W*A anchors).
TargetBatch make_target_batch(const std::vector<const detection::AssignmentTargets*>& samples, int height, int width,
                              int anchors_per_cell);

struct LossTerms {
  torch::Tensor total, cls, box, dir;  // scalars
  torch::Tensor num_positive;          // scalar (kept on the device: no synchronisation per step)
};
// Sigmoid focal loss over positives+negatives, smooth-L1 over positives (yaw via sin(a-b)),
// direction cross-entropy over positives; each normalised by the number of positives (≥ 1).
LossTerms detection_loss(const HeadOutput& out, const TargetBatch& targets, const LossConfig& cfg);

}  // namespace v2x::encoder
