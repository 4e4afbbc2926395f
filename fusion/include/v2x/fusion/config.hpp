#pragma once
// Configuration of the fusion stage: peer alignment and checks, the late-fusion merge, the dense (max / attn)
// fusers and the anchor-centric cross-attention fusion network. Defaults only here (member initialisers).
#include <array>
#include <cstdint>
#include <string_view>
#include <string>

#include "v2x/core/config.hpp"
#include "v2x/detection/decoder.hpp"

namespace v2x::fusion {
enum class WarpMode : std::uint8_t { Nearest = 0, Bilinear };
}  // namespace v2x::fusion

template <>
struct v2x::EnumNames<v2x::fusion::WarpMode> {
  static constexpr std::array<std::string_view, 2> names{"nearest", "bilinear"};
};

namespace v2x::fusion {

// Which peer messages are used, and the pose-consistency check (alignment.hpp).
struct AlignmentConfig {
  double max_age_ms = 300.0;  // older messages are dropped (FusionStats::peers_dropped_stale)
  // Pose-consistency check: the peer's confident anchors and the ego's confident detections that lie where
  // both agents should see them (within check_range_m of both) should describe the same objects. A peer with
  // at least check_min_expected such objects of which fewer than check_min_agreement (fraction) find a
  // partner within check_match_dist_m is treated as having a wrong pose (dropped, counted as down-weighted).
  bool check_pose = true;
  double check_score_min = 0.4;
  double check_range_m = 35.0;
  double check_match_dist_m = 2.5;
  int check_min_expected = 3;
  double check_min_agreement = 0.2;
  double check_speed_mps = 10.0;  // match tolerance grows by age × this (objects move during the age)
  // Assumed pose uncertainty of senders (vehicles; RSUs are surveyed): fed to the anchor fusion's
  // uncertainty encoding, sigma_pos(d) = pose_sigma_m + d * pose_sigma_yaw_deg (in rad) at distance d.
  double pose_sigma_m = 0.2;
  double pose_sigma_yaw_deg = 0.2;
  double rsu_pose_sigma_m = 0.02;

  template <class V>
  void visit(V& v) {
    v("max_age_ms", max_age_ms, Range{0, 60000});
    v("check_pose", check_pose);
    v("check_score_min", check_score_min, Range{0, 1});
    v("check_range_m", check_range_m, Range{1, 500});
    v("check_match_dist_m", check_match_dist_m, Range{0.1, 50});
    v("check_min_expected", check_min_expected, Range{1, 1000});
    v("check_min_agreement", check_min_agreement, Range{0, 1});
    v("check_speed_mps", check_speed_mps, Range{0, 100});
    v("pose_sigma_m", pose_sigma_m, Range{0, 100});
    v("pose_sigma_yaw_deg", pose_sigma_yaw_deg, Range{0, 90});
    v("rsu_pose_sigma_m", rsu_pose_sigma_m, Range{0, 100});
  }
};

// Late fusion: peers' anchors with score ≥ score_min join the ego's detections before rotated NMS.
struct LateConfig {
  double score_min = 0.3;
  template <class V>
  void visit(V& v) {
    v("score_min", score_min, Range{0, 1});
  }
};

// Dense fusion (max, attn): how received cells are resampled into the ego grid.

struct DenseConfig {
  WarpMode warp = WarpMode::Nearest;
  template <class V>
  void visit(V& v) {
    v("warp", warp);
  }
};

// Anchor-centric cross-attention fusion (anchor_fusion.hpp). Everything that shapes the weights is
// "architecture" and goes into the model manifest.
struct AnchorFusionConfig {
  int dim = 64;              // d_model
  int heads = 4;
  int layers = 2;            // cross-attention layers, each refines box and score
  int ffn_dim = 128;
  int max_peers = 4;         // peers used at most (closest first); keys = 9 * (1 + peers) + anchor keys
  int anchor_keys = 4;       // nearby peer anchors attended by each query
  double anchor_key_radius_m = 6.0;
  double pattern_scale = 0.6;  // 3×3 key pattern at (u * s * l/2, v * s * w/2), u, v ∈ {-1, 0, 1}, box frame
  double pattern_min_half_m = 0.8;  // the pattern's half extent is at least this (small boxes)
  // Queries: ego proposals ∪ peer anchors (score ≥ peer_anchor_score_min) in the ego frame. A peer anchor
  // whose centre is within merge_dist_m of an existing query (or BEV IoU ≥ merge_iou) is merged into it.
  double peer_anchor_score_min = 0.1;
  double merge_dist_m = 2.0;
  double merge_iou = 0.3;
  // A merged query keeps the ego's own box when the ego proposed it with at least this score (no pose error, no
  // message age); otherwise the most confident source's box, as late fusion's NMS would (docs/results.md,
  // "Merge rule"). 0 = always the ego's box when it has one; 1 = always the most confident box.
  double ego_box_score_min = 0.3;
  // An exact peer (its pose σ in align is 0 and its message at most this old) carries no pose error: its box
  // competes on score alone, as if ego_box_score_min were 1. < 0: no peer is exact.
  double exact_peer_max_age_ms = 50.0;
  int max_queries = 160;
  // Output: scores after the last layer, then decode.score_threshold / nms_iou / max_detections.
  template <class V>
  void visit(V& v) {
    v("dim", dim, Range{8, 1024});
    v("heads", heads, Range{1, 32});
    v("layers", layers, Range{1, 8});
    v("ffn_dim", ffn_dim, Range{8, 4096});
    v("max_peers", max_peers, Range{0, 64});
    v("anchor_keys", anchor_keys, Range{0, 64});
    v("anchor_key_radius_m", anchor_key_radius_m, Range{0, 100});
    v("pattern_scale", pattern_scale, Range{0, 4});
    v("pattern_min_half_m", pattern_min_half_m, Range{0, 10});
    v("peer_anchor_score_min", peer_anchor_score_min, Range{0, 1});
    v("merge_dist_m", merge_dist_m, Range{0, 20});
    v("merge_iou", merge_iou, Range{0, 1});
    v("ego_box_score_min", ego_box_score_min, Range{0, 1});
    v("exact_peer_max_age_ms", exact_peer_max_age_ms, Range{-1, 60000});
    v("max_queries", max_queries, Range{1, 100000});
  }
  void check(const std::string& file) const {
    if (dim % heads != 0) throw ConfigError(file, "dim", "must be a multiple of heads");
  }
};

// Peers whose message no LiDAR produced (camera-only agents: modality without the LiDAR bit). Their BEV cells are
// a weaker sensor's, in another feature distribution than the LiDAR maps every fuser was trained on, so no fuser
// reads them. Instead their boxes (the message's anchors; late and anchor messages carry them) with score ≥
// score_min join the output ranked BELOW every LiDAR-backed detection — score × output.score_threshold — unless
// they overlap an output box (BEV IoU > overlap_iou). Detections ranked below all others can add true positives
// but cannot lower AP (interpolated precision at a recall level only looks at higher recalls), which is how a
// camera-only agent joining a LiDAR fleet never lowers the ego's fused AP (docs/cameras.md).
// score_min 0.5: on the held-out split the shipped camera branch's boxes at 0.3 raised score-ranked AP by 0.001 but
// lowered OpenCOOD's frame-order AP by 1 point (docs/results.md, "Heterogeneous fleets"); 0.5 lowers neither.
struct CameraPeerConfig {
  bool use_boxes = true;     // false: camera-only peers are ignored
  double score_min = 0.5;
  double overlap_iou = 0.1;
  template <class V>
  void visit(V& v) {
    v("use_boxes", use_boxes);
    v("score_min", score_min, Range{0, 1});
    v("overlap_iou", overlap_iou, Range{0, 1});
  }
};

struct FusionConfig {
  AlignmentConfig align;
  LateConfig late;
  DenseConfig dense;
  AnchorFusionConfig anchor;
  CameraPeerConfig camera_peers;
  // Final detections of every fuser: score threshold, NMS IoU, max detections (same meaning as the detector's).
  detection::DecodeConfig output;
  template <class V>
  void visit(V& v) {
    v("align", align);
    v("late", late);
    v("dense", dense);
    v("anchor", anchor);
    v("camera_peers", camera_peers);
    v("output", output);
  }
  void check(const std::string& file) const { anchor.check(file); }
};

// Evaluation-time perturbation of what peers send (OpenCOOD's noise setting): the sender's believed pose is
// its true pose ⊕ N(0, σ) on x, y and yaw; message age is how old the peer's frame is when fused.
struct PoseNoiseConfig {
  double position_sigma_m = 0.2;
  double yaw_sigma_deg = 0.2;
  double latency_ms = 100.0;
  std::uint64_t seed = 1;
  template <class V>
  void visit(V& v) {
    v("position_sigma_m", position_sigma_m, Range{0, 100});
    v("yaw_sigma_deg", yaw_sigma_deg, Range{0, 180});
    v("latency_ms", latency_ms, Range{0, 60000});
    v("seed", seed);
  }
};

}  // namespace v2x::fusion

