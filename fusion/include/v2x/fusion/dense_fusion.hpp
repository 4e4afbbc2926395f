#pragma once
// Dense intermediate fusion on warped BEV maps (the field's baselines):
//   max  (F-Cooper): element-wise max over the ego map and every peer's warped cells (where received);
//   attn (AttFuse):  per-cell scaled dot-product attention over the agents' features at that cell, the ego's
//                    feature as the query: out(x) = Σ_j softmax_j(⟨W_q f_ego(x), W_k f_j(x)⟩ / √C) f_j(x).
//                    W_q, W_k are 1×1 projections initialised to the identity, so the untrained module is exactly
//                    AttFuse's parameter-free attention (OpenCOOD's AttFusion); the fusion stage of v2x_train
//                    fine-tunes them through the frozen detection head. Values are the raw features, so the
//                    frozen single-agent head reads the fused map directly.
// Both then re-run the single-agent detection head on the fused map (DetectorRuntime::detect_map).
#include <torch/torch.h>

#include <vector>

#include "v2x/fusion/alignment.hpp"

namespace v2x::fusion {

// The ego map and the peers' warped maps stacked: maps (A, C, H, W) float32, mask (A, H, W) bool; row 0 = ego
// (all true).
struct DenseStack {
  torch::Tensor maps;
  torch::Tensor mask;
};
DenseStack stack_dense(const FeatureMap& ego_map, const std::vector<AlignedPeer>& peers, WarpMode mode);

// (A, C, H, W), (A, H, W) → (1, C, H, W): max over the valid agents of each cell.
torch::Tensor max_fuse(const DenseStack& s);

class AttnFusionImpl : public torch::nn::Module {
 public:
  explicit AttnFusionImpl(int channels);
  // (A, C, H, W), (A, H, W) → (1, C, H, W). Also accepts a batch: (B, A, C, H, W), (B, A, H, W) → (B, C, H, W).
  torch::Tensor forward(const torch::Tensor& maps, const torch::Tensor& mask);
  int channels() const { return channels_; }

 private:
  int channels_;
  torch::nn::Conv2d wq_{nullptr}, wk_{nullptr};
};
TORCH_MODULE(AttnFusion);

}  // namespace v2x::fusion
