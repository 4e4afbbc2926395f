#pragma once
// Average precision exactly as OpenCOOD (opencood/utils/eval_utils.py: caluclate_tp_fp, calculate_ap, voc_ap),
// with its default frame-order accumulation and the global-sort variant side by side. docs/evaluation.md gives
// every rule with its source, and the quirks.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "v2x/core/box.hpp"
#include "v2x/core/config.hpp"
#include "v2x/core/detection.hpp"

namespace v2x::detection {

struct EvalConfig {
  // [x_min, y_min, z_min, x_max, y_max, z_max] in the ego LiDAR frame (OpenCOOD GT_RANGE). A GT box is kept when
  // all 8 corners lie inside, bounds inclusive (box_utils.mask_boxes_outside_range_numpy, min_num_corners=8).
  std::array<double, 6> gt_range{-140, -40, -3, 140, 40, 1};
  // OpenCOOD's post_process also drops predictions with any BEV corner outside gt_range's x/y
  // (get_mask_for_boxes_within_range_torch). On by default to match.
  bool filter_predictions = true;
  std::vector<double> iou_thresholds{0.3, 0.5, 0.7};
  // > 0: only GT with >= min_lidar_points returns count; fewer → "don't care": not counted in #GT, and a
  // prediction whose greedy match is such a GT is neither TP nor FP. GT with unknown count (-1) are kept.
  int min_lidar_points = 0;
  template <class V>
  void visit(V& v) {
    v("gt_range", gt_range, Range{-1000, 1000});
    v("filter_predictions", filter_predictions);
    v("iou_thresholds", iou_thresholds, Range{0.01, 1});
    v("min_lidar_points", min_lidar_points, Range{0, 1000000});
  }
  void check(const std::string& file) const;  // min < max per axis, at least one threshold
};

// True when all 8 corners of `b` are inside range (inclusive).
bool box_in_range(const Box3D& b, const std::array<double, 6>& range);
// True when all 4 BEV corners of `b` are inside range's x/y (inclusive).
bool box_in_range_bev(const Box3D& b, const std::array<double, 6>& range);

// VOC2010 all-point AP (voc_ap): rec/prec get a leading 0 / 0 and trailing 1 / 0, precision is made
// monotonically non-increasing from the right, AP = sum over recall steps of Δrecall × precision.
double voc_ap(std::span<const double> recall, std::span<const double> precision);

// What one frame contributed (after filters): exactly what a dump should record.
struct FrameEval {
  std::vector<Detection> detections;  // after the prediction range filter, input order
  std::vector<Box3D> gt;              // after the GT range filter
  std::vector<int> gt_points;         // LiDAR returns per kept GT (-1 unknown)
  std::vector<bool> gt_ignored;       // per kept GT: below min_lidar_points
};

struct ApSummary {
  std::vector<double> thresholds;
  std::vector<double> ap;              // OpenCOOD default (frame-order concatenation)
  std::vector<double> ap_global_sort;  // detections sorted by score across all frames
  std::vector<std::int64_t> tp;        // per threshold
  std::int64_t num_gt = 0;             // counted GT (not ignored)
  std::int64_t num_gt_ignored = 0;
  std::int64_t num_detections = 0;     // evaluated detections (after the range filter)
  std::int64_t frames = 0;
};

class ApEvaluator {
 public:
  explicit ApEvaluator(EvalConfig cfg = {});  // throws ConfigError on an invalid config

  // Adds one ego frame: applies the range filters and the min-points rule, matches per threshold. Frames must
  // be added in dataset order (OpenCOOD: scenarios then timestamps, DataLoader shuffle=False) because the
  // default AP depends on it. Non-finite boxes/scores are dropped.
  FrameEval add_frame(std::span<const Detection> detections, std::span<const Object3D> gt);
  // Same for already-filtered input (e.g. read back from a dump): filters are applied again (idempotent).
  FrameEval add_frame(std::span<const Detection> detections, std::span<const Box3D> gt,
                      std::span<const int> gt_points = {});

  double ap(double iou_threshold, bool global_sort) const;  // throws std::out_of_range for an unknown threshold
  ApSummary summary() const;
  const EvalConfig& config() const { return cfg_; }

 private:
  struct PerThreshold {
    std::vector<float> score;  // per evaluated (not ignored) prediction, frame order, per-frame score-sorted
    std::vector<std::uint8_t> tp;  // 1 TP, 0 FP
    std::int64_t num_tp = 0;
  };
  FrameEval add_filtered(std::vector<Detection> dets, std::vector<Box3D> gt, std::vector<int> points);
  double ap_of(const PerThreshold& p, bool global_sort) const;

  EvalConfig cfg_;
  std::vector<PerThreshold> per_thr_;
  std::int64_t num_gt_ = 0, num_gt_ignored_ = 0, num_det_ = 0, frames_ = 0;
};

}  // namespace v2x::detection
