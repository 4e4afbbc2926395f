#pragma once
// Anchor-centric cross-attention fusion (after ACCO, adapted to LiDAR BEV features; our own formulation).
//
// Queries: the ego's proposals ∪ the peers' anchors in the ego frame; a peer anchor that describes an object
// already queried (centre within merge_dist_m or BEV IoU ≥ merge_iou) is merged into that query: the ego's box
// is kept when the ego proposed it with score ≥ ego_box_score_min and the peer is not exact (no pose σ, fresh;
// exact_peer_max_age_ms), else the most confident source's box; the
// score is the maximum; the sources are recorded. Query input: its anchor feature ‖ the ego map at its centre
// ‖ which agents proposed it ‖ logit(score) ‖ log box size.
// Keys, per query (K = 9 · (1 + P) + anchor_keys, P = peers used this frame):
//   9 ego cells on a 3×3 pattern in the query's box frame (half extents pattern_scale · l/2, · w/2) — always valid;
//   the same 9 positions looked up in each peer's received cells (through T_peer_ego; invalid where not sent);
//   the anchor_keys nearest peer anchors within anchor_key_radius_m.
// Key input: feature (C) + agent embedding (ego / vehicle / RSU) + meta (age s, pose sigma m at the key's
// distance from its sender, anchor score, is-anchor) and, per layer, a relative-position encoding of the key in
// the query's CURRENT box frame. L layers of multi-head cross-attention (query attends its own keys only, so
// queries are independent and frames can be concatenated), each followed by a box residual (coder of
// detection/box_coder.hpp: dx·diag, dy·diag, dz·h, log sizes, yaw) and a score logit (prior = the query's input
// logit). Heads are zero-initialised: an untrained network returns the merged queries unchanged.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "v2x/core/box.hpp"
#include "v2x/fusion/alignment.hpp"
#include "v2x/fusion/config.hpp"
#include "v2x/fusion/fuser.hpp"

namespace v2x::fusion {

inline constexpr int kKeyMeta = 4;       // age_s, sigma_m, anchor score, is_anchor
inline constexpr int kPatternKeys = 9;   // 3×3
inline constexpr int kQuerySources = 3;  // ego, vehicle, RSU

// Inputs of the network for the queries of one or more ego frames (concatenated along N). CPU float32 unless
// stated. C = channels of the feature maps / anchor features.
struct AnchorQueries {
  torch::Tensor q_box;    // (N, 7) [x, y, z, l, w, h, yaw] ego frame
  torch::Tensor q_score;  // (N) initial score in [0, 1]
  torch::Tensor q_feat;   // (N, 2C) anchor feature ‖ ego map at the centre
  torch::Tensor q_src;    // (N, 3) multi-hot: proposed by ego / a vehicle peer / an RSU peer
  torch::Tensor k_feat;   // (N, K, C)
  torch::Tensor k_xy;     // (N, K, 2) key positions, ego frame, metres
  torch::Tensor k_agent;  // (N, K) int64 AgentKind
  torch::Tensor k_meta;   // (N, K, kKeyMeta)
  torch::Tensor k_mask;   // (N, K) bool, true = valid key
  std::vector<std::int64_t> frame_offsets{0};  // queries of frame f: [offsets[f], offsets[f+1])

  std::int64_t num_queries() const { return q_box.defined() ? q_box.size(0) : 0; }
  AnchorQueries to(const torch::Device& d) const;
};

// Builds the queries and keys of one ego frame from the ego's input and the aligned peers (max_peers closest).
// Needs ego.features (the ego map, C channels); ego.proposals (else ego.local with zero anchor features).
AnchorQueries build_anchor_queries(const EgoInput& ego, const std::vector<AlignedPeer>& peers,
                                   const FusionConfig& cfg);
// Concatenates frames (keys padded with invalid entries to the largest K).
AnchorQueries concat_queries(const std::vector<AnchorQueries>& frames);

struct AnchorFusionOutput {
  std::vector<torch::Tensor> boxes;   // L + 1 entries (N, 7): input boxes, then each layer's refined boxes
  std::vector<torch::Tensor> deltas;  // L entries (N, 7): residuals predicted by each layer (w.r.t. boxes[l])
  std::vector<torch::Tensor> logits;  // L entries (N): score logits after each layer
};

class AnchorFusionNetImpl : public torch::nn::Module {
 public:
  AnchorFusionNetImpl(const AnchorFusionConfig& cfg, int channels);
  AnchorFusionOutput forward(const AnchorQueries& in);
  const AnchorFusionConfig& config() const { return cfg_; }
  int channels() const { return channels_; }

 private:
  struct Layer {
    torch::nn::Sequential pos{nullptr};
    torch::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};
    torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
    torch::nn::Sequential ffn{nullptr};
    torch::nn::Linear box{nullptr}, score{nullptr};
  };
  AnchorFusionConfig cfg_;
  int channels_;
  torch::nn::Linear q_in_{nullptr}, k_feat_{nullptr}, k_meta_{nullptr};
  torch::nn::LayerNorm q_ln_{nullptr}, k_ln_{nullptr};
  torch::nn::Embedding k_agent_{nullptr};
  std::vector<Layer> layers_;
};
TORCH_MODULE(AnchorFusionNet);

// Applies residuals (N, 7) to boxes (N, 7) with the detection box coder's parameterisation (differentiable).
torch::Tensor apply_box_deltas(const torch::Tensor& boxes, const torch::Tensor& deltas);
// Residuals that take boxes (N, 7) to targets (N, 7); the yaw residual is taken modulo pi (BEV IoU does not see
// the heading), in [-pi/2, pi/2).
torch::Tensor encode_box_targets(const torch::Tensor& boxes, const torch::Tensor& targets);

// Final layer → detections after score threshold and rotated NMS (cfg.output); `offset`/`count` select the
// queries of one frame.
DetectionList anchor_output_to_detections(const AnchorFusionOutput& out, std::int64_t offset, std::int64_t count,
                                          const detection::DecodeConfig& output, AgentId agent, TimestampNs stamp_ns);

}  // namespace v2x::fusion
