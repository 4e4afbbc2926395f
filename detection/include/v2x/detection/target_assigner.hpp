#pragma once
// Anchor target assignment by exact rotated BEV IoU (core bev_iou) with an axis-aligned IoU upper bound as
// pre-filter (branch and bound: the exact IoU is only computed where the bound can change the outcome).
//
// Rules (OpenCOOD VoxelPostprocessor.generate_label, target_args of point_pillar_*.yaml):
//   positive  : max IoU over GT  > pos_iou (0.6)            → matched GT = argmax
//   negative  : IoU with every GT < neg_iou (0.45)
//   best      : for every GT, its highest-IoU anchor (if IoU > 0) is positive and matched to that GT
//               (forced, overrides a threshold match of the same anchor, like SECOND's force_match)
//   otherwise : ignore (-1)
// Deviations from OpenCOOD, on purpose: OpenCOOD computes the IoU of axis-aligned "standup" boxes; we use the
// exact rotated BEV IoU (as SECOND/OpenPCDet do). OpenCOOD matches an anchor positive for several GT to the
// lowest GT index; we match it to the GT of highest IoU.
#include <cstdint>
#include <span>
#include <vector>

#include "v2x/core/box.hpp"
#include "v2x/core/config.hpp"
#include "v2x/detection/anchors.hpp"
#include "v2x/detection/box_coder.hpp"

namespace v2x::detection {

struct AssignerConfig {
  double pos_iou = 0.6;   // OpenCOOD target_args.pos_threshold (strict >)
  double neg_iou = 0.45;  // OpenCOOD target_args.neg_threshold (strict <)
  template <class V>
  void visit(V& v) {
    v("pos_iou", pos_iou, Range{0, 1});
    v("neg_iou", neg_iou, Range{0, 1});
  }
  void check(const std::string& file) const;  // neg_iou <= pos_iou
};

// Output of one assignment; reuse the same object across frames to avoid allocations.
// N = H*W*A anchors in the flat anchor order of anchors.hpp.
struct AssignmentTargets {
  std::vector<std::int8_t> labels;      // (N)    1 positive, 0 negative, -1 ignore
  std::vector<float> box_targets;       // (N, 7) encode_box(anchor, matched GT) for positives, 0 elsewhere
  std::vector<std::int8_t> dir_targets; // (N)    direction bin of the matched GT for positives, -1 elsewhere
  std::vector<std::int32_t> matched_gt; // (N)    index into the GT span for positives, -1 elsewhere
  std::vector<float> max_iou;           // (N)    max rotated BEV IoU over GT (0 where no GT is near)
  std::vector<std::int64_t> positives;  // flat indices of positive anchors, ascending
  int num_positive = 0;
  int num_negative = 0;
  int skipped_gt = 0;  // GT boxes with non-finite or non-positive sizes (ignored, counted)
};

class TargetAssigner {
 public:
  // Throws ConfigError on an invalid config.
  TargetAssigner(const AnchorConfig& anchors, const AssignerConfig& assign = {}, const BoxCoderConfig& coder = {});

  // Thread-safe (const, no shared mutable state): many data-loader threads may call it concurrently with their
  // own `out`. Allocation-free once `out` has been used for the same anchor grid.
  void assign(std::span<const Box3D> gt, AssignmentTargets& out) const;
  // Same with GT as a (n, 7) float array [x, y, z, l, w, h, yaw].
  void assign(const float* gt_boxes7, int num_gt, AssignmentTargets& out) const;

  const AnchorGrid& anchors() const { return anchors_; }
  const AnchorConfig& anchor_config() const { return anchor_cfg_; }
  const BoxCoderConfig& coder_config() const { return coder_; }

 private:
  AnchorConfig anchor_cfg_;
  AssignerConfig assign_;
  BoxCoderConfig coder_;
  AnchorGrid anchors_;
  // Per anchor slot a (same for every cell): half extents of the axis-aligned bounding box, BEV area.
  std::vector<double> half_ext_x_, half_ext_y_, area_;
};

}  // namespace v2x::detection
