#pragma once
// Decoding of the detection head's raw outputs into boxes (OpenCOOD VoxelPostprocessor.post_process for one
// agent, plus the direction classifier of SECOND/HEAL).
#include <cstdint>
#include <vector>

#include "v2x/core/config.hpp"
#include "v2x/core/detection.hpp"
#include "v2x/detection/anchors.hpp"
#include "v2x/detection/box_coder.hpp"

namespace v2x::detection {

struct DecodeConfig {
  double score_threshold = 0.20;  // on sigmoid(cls logit); OpenCOOD target_args.score_threshold (strict >)
  int pre_nms_top_k = 1000;       // highest-scoring candidates kept before NMS (OpenCOOD nms_rotated: 1000)
  double nms_iou = 0.15;          // OpenCOOD nms_thresh (suppress when IoU > nms_iou)
  int max_detections = 100;       // kept after NMS, highest score first
  bool use_direction = true;      // apply dir logits (when given)
  // OpenCOOD's remove_large_pred_bbx (axis-aligned BEV extent <= 6 m) would drop trucks and buses; 0 = off
  // (default). Set 6 to reproduce OpenCOOD exactly.
  double max_bev_extent_m = 0.0;
  template <class V>
  void visit(V& v) {
    v("score_threshold", score_threshold, Range{0, 1});
    v("pre_nms_top_k", pre_nms_top_k, Range{1, 1000000});
    v("nms_iou", nms_iou, Range{0, 1});
    v("max_detections", max_detections, Range{1, 100000});
    v("use_direction", use_direction);
    v("max_bev_extent_m", max_bev_extent_m, Range{0, 100});
  }
};

// One kept box with the anchor it came from, so fusion can sample features at (iy, ix).
struct Proposal {
  Box3D box;
  float score = 0.f;           // sigmoid(cls logit)
  std::int64_t anchor = 0;     // flat anchor index (iy * W + ix) * A + a
  int iy = 0, ix = 0, a = 0;   // output-map cell (row, column) and anchor slot
};

struct DecodeStats {
  int above_threshold = 0;  // candidates with score > threshold
  int non_finite = 0;       // candidates dropped for NaN/inf logits, deltas or decoded boxes
  int too_large = 0;        // dropped by max_bev_extent_m
};

// Raw head outputs for ONE frame, flat anchor order of anchors.hpp (N = H*W*A):
//   cls_logits (N) float32, box_deltas (N, 7) float32, dir_logits (N, num_dir_bins) float32 or nullptr.
// Returns the kept proposals, highest score first. Never throws on bad values (they are counted in `stats`).
std::vector<Proposal> decode_head(const AnchorGrid& anchors, const float* cls_logits, const float* box_deltas,
                                  const float* dir_logits, const DecodeConfig& cfg, const BoxCoderConfig& coder,
                                  DecodeStats* stats = nullptr);

// Proposals → core DetectionList (class = Car: the head is a single "vehicle" class).
DetectionList to_detection_list(const std::vector<Proposal>& proposals, AgentId agent, TimestampNs stamp_ns);

}  // namespace v2x::detection
