#pragma once
// Conformal temporal uncertainty selector (after COOPERTRIM, Mukhopadhyay, Roy-Chowdhury, Qiu, ICLR 2026;
// our own formulation, written from the paper's description):
//
//  1. Temporal residual per cell: the previous frame's map is warped into the current LiDAR frame by ego motion
//     (T_lidar_now←lidar_prev = T_world_lidar_now⁻¹ · T_world_lidar_prev, nearest cell), and
//       r(x) = ‖f_t(x) − f̃_{t−1}(x)‖₂ / √C        (cells with no previous counterpart: r = ‖f_t(x)‖₂ / √C)
//  2. Split-conformal threshold on r: a sliding window of the last `calibration_frames` frames holds residuals
//     of background cells (confidence p ≤ background_confidence_max, non-empty, with a previous counterpart):
//     what static scenery scores under sensor noise and warping error. With n calibration scores, the
//     threshold is the ⌈(n + 1)(1 − α)⌉-th smallest (the split-conformal quantile), so a static cell exceeds it
//     with probability ≤ α (under exchangeability). The current frame is tested against the window *before*
//     it joins it. A cell "changed" when r(x) > threshold.
//  3. Priority combines change and detection confidence:  s(x) = r(x) · ((1 − w) + w · p(x)).
//     (Thresholding r rather than s keeps the α guarantee for static cells of any confidence; confidence decides
//     which changed cells go first when the budget cuts.)
//  4. Send, in this order, under the byte budget: changed cells (by s), cells never sent (new territory, by
//     confidence), then cells due for a periodic refresh (sent ≥ refresh_period_frames ago, oldest first).
//     Cells already sent and static are not re-sent until their refresh is due; the receiver's PeerCellCache
//     keeps them meanwhile. "Last sent" ages are warped with the map, like the features.
// So the number of cells sent grows and shrinks with how much of the scene moves.
#include <deque>
#include <vector>

#include "v2x/selection/selector.hpp"

namespace v2x::selection {

struct ConformalConfig {
  double alpha = 0.05;                     // miscoverage level: static cells re-sent by chance at most ~α
  int calibration_frames = 10;             // sliding window length
  int calibration_samples_per_frame = 4096;// background scores kept per frame (seeded subsample)
  double confidence_weight = 0.5;          // w in the priority s = r · ((1 − w) + w · p)
  double background_confidence_max = 0.1;  // calibration cells: confidence at most this
  int refresh_period_frames = 20;          // re-send static cells this many frames after they were last sent
  double min_feature_norm = 1e-4;          // ‖f‖/√C below this (now and before): an empty cell, never sent
  double min_score = 1e-6;                 // threshold floor on r (an exactly static scene sends nothing)
  std::uint64_t seed = 1;

  template <class V>
  void visit(V& v) {
    v("alpha", alpha, Range{1e-4, 0.5});
    v("calibration_frames", calibration_frames, Range{1, 1000});
    v("calibration_samples_per_frame", calibration_samples_per_frame, Range{16, 1 << 22});
    v("confidence_weight", confidence_weight, Range{0, 1});
    v("background_confidence_max", background_confidence_max, Range{0, 1});
    v("refresh_period_frames", refresh_period_frames, Range{1, 100000});
    v("min_feature_norm", min_feature_norm, Range{0, 1e6});
    v("min_score", min_score, Range{0, 1e6});
    v("seed", seed);
  }
};

class ConformalTemporalSelector final : public Selector {
 public:
  ConformalTemporalSelector(BudgetConfig b, ConformalConfig c);
  SelectionResult select(const SelectionInput& in) override;
  std::string name() const override { return "conformal_temporal"; }
  void reset() override;

  // Diagnostics of the last select(): threshold used (+inf while the window is empty), calibration size,
  // and cells by reason.
  struct Last {
    double threshold = 0;
    std::size_t calibration_scores = 0;
    std::size_t changed = 0, never_sent = 0, refresh_due = 0;
  };
  const Last& last() const { return last_; }
  // (H, W) priorities s(x) of the last frame.
  const std::vector<float>& scores() const { return scores_; }
  // (H, W) temporal residuals r(x) of the last frame.
  const std::vector<float>& residuals() const { return residuals_; }

 private:
  double threshold() const;

  BudgetConfig b_;
  ConformalConfig c_;
  bool have_prev_ = false;
  FeatureMap prev_;
  Pose prev_T_world_lidar_ = Pose::Identity();
  std::vector<std::int64_t> last_sent_;  // (H, W) frame number when sent, -1 = never
  std::int64_t frame_ = 0;
  std::deque<std::vector<float>> window_;
  std::vector<float> scores_, residuals_;
  Last last_;
};

}  // namespace v2x::selection
