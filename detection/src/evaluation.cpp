#include "v2x/detection/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "v2x/detection/nms.hpp"

namespace v2x::detection {

void EvalConfig::check(const std::string& file) const {
  for (int k = 0; k < 3; ++k)
    if (!(gt_range[k] < gt_range[k + 3]))
      throw ConfigError(file, "gt_range", "needs [x_min, y_min, z_min, x_max, y_max, z_max] with min < max");
  if (iou_thresholds.empty()) throw ConfigError(file, "iou_thresholds", "at least one threshold is required");
}

bool box_in_range(const Box3D& b, const std::array<double, 6>& r) {
  for (const auto& c : b.corners())
    if (!(c.x() >= r[0] && c.x() <= r[3] && c.y() >= r[1] && c.y() <= r[4] && c.z() >= r[2] && c.z() <= r[5]))
      return false;
  return true;
}

bool box_in_range_bev(const Box3D& b, const std::array<double, 6>& r) {
  for (const auto& c : b.bev_corners())
    if (!(c.x() >= r[0] && c.x() <= r[3] && c.y() >= r[1] && c.y() <= r[4])) return false;
  return true;
}

double voc_ap(std::span<const double> recall, std::span<const double> precision) {
  std::vector<double> mrec, mpre;
  mrec.reserve(recall.size() + 2);
  mpre.reserve(precision.size() + 2);
  mrec.push_back(0.0);
  mrec.insert(mrec.end(), recall.begin(), recall.end());
  mrec.push_back(1.0);
  mpre.push_back(0.0);
  mpre.insert(mpre.end(), precision.begin(), precision.end());
  mpre.push_back(0.0);
  for (std::size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);
  double ap = 0.0;
  for (std::size_t i = 1; i < mrec.size(); ++i)
    if (mrec[i] != mrec[i - 1]) ap += (mrec[i] - mrec[i - 1]) * mpre[i];
  return ap;
}

ApEvaluator::ApEvaluator(EvalConfig cfg) : cfg_(std::move(cfg)) {
  validate_config(cfg_);
  per_thr_.resize(cfg_.iou_thresholds.size());
}

namespace {
bool finite_box(const Box3D& b) {
  return b.center.allFinite() && std::isfinite(b.l_m) && std::isfinite(b.w_m) && std::isfinite(b.h_m) &&
         std::isfinite(b.yaw_rad);
}
}  // namespace

FrameEval ApEvaluator::add_frame(std::span<const Detection> detections, std::span<const Object3D> gt) {
  std::vector<Box3D> boxes;
  std::vector<int> points;
  boxes.reserve(gt.size());
  points.reserve(gt.size());
  for (const Object3D& o : gt) {
    boxes.push_back(o.box);
    points.push_back(o.lidar_points);
  }
  return add_filtered({detections.begin(), detections.end()}, std::move(boxes), std::move(points));
}

FrameEval ApEvaluator::add_frame(std::span<const Detection> detections, std::span<const Box3D> gt,
                                 std::span<const int> gt_points) {
  std::vector<int> points(gt.size(), -1);
  for (std::size_t i = 0; i < gt.size() && i < gt_points.size(); ++i) points[i] = gt_points[i];
  return add_filtered({detections.begin(), detections.end()}, {gt.begin(), gt.end()}, std::move(points));
}

FrameEval ApEvaluator::add_filtered(std::vector<Detection> dets, std::vector<Box3D> gt, std::vector<int> points) {
  FrameEval fe;
  for (const Detection& d : dets) {
    if (!finite_box(d.box) || !std::isfinite(d.score)) continue;
    if (cfg_.filter_predictions && !box_in_range_bev(d.box, cfg_.gt_range)) continue;
    fe.detections.push_back(d);
  }
  for (std::size_t i = 0; i < gt.size(); ++i) {
    if (!finite_box(gt[i]) || !box_in_range(gt[i], cfg_.gt_range)) continue;
    fe.gt.push_back(gt[i]);
    fe.gt_points.push_back(points[i]);
    fe.gt_ignored.push_back(cfg_.min_lidar_points > 0 && points[i] >= 0 && points[i] < cfg_.min_lidar_points);
  }
  ++frames_;
  num_det_ += static_cast<std::int64_t>(fe.detections.size());
  for (bool ign : fe.gt_ignored) ign ? ++num_gt_ignored_ : ++num_gt_;

  // caluclate_tp_fp: predictions by descending score (np.argsort(-score); ours is stable), greedy match.
  std::vector<int> order(fe.detections.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return fe.detections[a].score > fe.detections[b].score; });

  const std::size_t G = fe.gt.size();
  std::vector<char> used(G);
  for (std::size_t t = 0; t < cfg_.iou_thresholds.size(); ++t) {
    const double thr = cfg_.iou_thresholds[t];
    PerThreshold& acc = per_thr_[t];
    std::fill(used.begin(), used.end(), 0);
    for (int di : order) {
      const Detection& d = fe.detections[di];
      // OpenCOOD: ious = float32 array over the remaining GT (in list order); match = first argmax if max >= thr.
      int best = -1;
      float best_iou = -1.f;
      for (std::size_t g = 0; g < G; ++g) {
        if (used[g]) continue;
        // Only a GT with IoU >= thr can be the accepted argmax; the bound skips the rest exactly.
        if (bev_iou_upper_bound(d.box, fe.gt[g]) < thr * (1 - 1e-6)) continue;
        const float iou = static_cast<float>(bev_iou(d.box, fe.gt[g]));
        if (iou > best_iou) {
          best_iou = iou;
          best = static_cast<int>(g);
        }
      }
      const bool matched = best >= 0 && static_cast<double>(best_iou) >= thr;
      if (matched) {
        used[best] = 1;
        if (fe.gt_ignored[best]) continue;  // matched a don't-care GT: neither TP nor FP
      }
      acc.score.push_back(d.score);
      acc.tp.push_back(matched ? 1 : 0);
      acc.num_tp += matched ? 1 : 0;
    }
  }
  return fe;
}

double ApEvaluator::ap_of(const PerThreshold& p, bool global_sort) const {
  const std::size_t n = p.tp.size();
  if (num_gt_ == 0) return 0.0;  // OpenCOOD divides by zero here; we report 0 (documented)
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (global_sort)
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p.score[a] > p.score[b]; });
  std::vector<double> rec(n), prec(n);
  std::int64_t tp = 0, fp = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (p.tp[order[k]]) ++tp; else ++fp;
    rec[k] = static_cast<double>(tp) / static_cast<double>(num_gt_);
    prec[k] = static_cast<double>(tp) / static_cast<double>(tp + fp);
  }
  return voc_ap(rec, prec);
}

double ApEvaluator::ap(double iou_threshold, bool global_sort) const {
  for (std::size_t t = 0; t < cfg_.iou_thresholds.size(); ++t)
    if (std::abs(cfg_.iou_thresholds[t] - iou_threshold) < 1e-9) return ap_of(per_thr_[t], global_sort);
  throw std::out_of_range("ApEvaluator: IoU threshold " + std::to_string(iou_threshold) + " is not configured");
}

ApSummary ApEvaluator::summary() const {
  ApSummary s;
  s.thresholds = cfg_.iou_thresholds;
  for (const PerThreshold& p : per_thr_) {
    s.ap.push_back(ap_of(p, false));
    s.ap_global_sort.push_back(ap_of(p, true));
    s.tp.push_back(p.num_tp);
  }
  s.num_gt = num_gt_;
  s.num_gt_ignored = num_gt_ignored_;
  s.num_detections = num_det_;
  s.frames = frames_;
  return s;
}

}  // namespace v2x::detection
