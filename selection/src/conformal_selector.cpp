#include "v2x/selection/conformal_selector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "v2x/core/rng.hpp"

namespace v2x::selection {

ConformalTemporalSelector::ConformalTemporalSelector(BudgetConfig b, ConformalConfig c) : b_(b), c_(c) {
  validate_config(b_);
  validate_config(c_);
}

void ConformalTemporalSelector::reset() {
  have_prev_ = false;
  prev_ = FeatureMap();
  last_sent_.clear();
  frame_ = 0;
  window_.clear();
  last_ = Last{};
}

double ConformalTemporalSelector::threshold() const {
  std::vector<float> all;
  for (const auto& w : window_) all.insert(all.end(), w.begin(), w.end());
  if (all.empty()) return std::numeric_limits<double>::infinity();
  const std::size_t n = all.size();
  // Split-conformal quantile: the ⌈(n + 1)(1 − α)⌉-th smallest score; +inf when that rank exceeds n.
  const auto rank = static_cast<std::size_t>(std::ceil(static_cast<double>(n + 1) * (1.0 - c_.alpha)));
  if (rank > n) return std::numeric_limits<double>::infinity();
  std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(rank - 1), all.end());
  return std::max(static_cast<double>(all[rank - 1]), c_.min_score);
}

SelectionResult ConformalTemporalSelector::select(const SelectionInput& in) {
  const FeatureMap& m = *in.map;
  const int H = m.height, W = m.width, C = m.channels;
  const std::size_t HW = m.cells();
  const bool have_conf = m.confidence.size() == HW;
  const double inv_sqrt_c = C > 0 ? 1.0 / std::sqrt(static_cast<double>(C)) : 0.0;
  // A new grid/shape restarts the temporal state.
  if (have_prev_ && (prev_.channels != C || prev_.height != H || prev_.width != W || !(prev_.grid == m.grid)))
    reset();

  // Warp: for each current cell, the previous frame's cell at the same world point (or -1).
  std::vector<std::int64_t> src(HW, -1);
  if (have_prev_) {
    const Pose T_prev_now = prev_T_world_lidar_.inverse() * in.T_world_lidar;
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const Eigen::Vector3d p = T_prev_now * Eigen::Vector3d(m.grid.cell_center_x(x), m.grid.cell_center_y(y), 0.0);
        const auto c = prev_.grid.cell_of(p.x(), p.y());
        if (c && c->first < W && c->second < H) src[static_cast<std::size_t>(y) * W + x] = static_cast<std::int64_t>(c->second) * W + c->first;
      }
  }
  std::vector<std::int64_t> last_sent(HW, -1);
  for (std::size_t i = 0; i < HW; ++i)
    if (src[i] >= 0 && !last_sent_.empty()) last_sent[i] = last_sent_[static_cast<std::size_t>(src[i])];

  // Residuals and scores.
  scores_.assign(HW, 0.f);
  residuals_.assign(HW, 0.f);
  std::vector<float>& residuals = residuals_;
  std::vector<char> nonempty(HW, 0);
  const double tau = threshold();
  last_ = Last{};
  last_.threshold = tau;
  std::vector<float> calib;
  std::vector<std::uint32_t> changed, never, refresh;
  for (std::size_t i = 0; i < HW; ++i) {
    double now2 = 0, prev2 = 0, diff2 = 0;
    for (int c = 0; c < C; ++c) {
      const double v = m.data[static_cast<std::size_t>(c) * HW + i];
      const double pv = src[i] >= 0 ? prev_.data[static_cast<std::size_t>(c) * HW + static_cast<std::size_t>(src[i])] : 0.0;
      now2 += v * v;
      prev2 += pv * pv;
      diff2 += (v - pv) * (v - pv);
    }
    const double r = std::sqrt(diff2) * inv_sqrt_c;
    const double p = have_conf ? m.confidence[i] : 0.0;
    const double s = r * ((1.0 - c_.confidence_weight) + c_.confidence_weight * p);
    scores_[i] = static_cast<float>(s);
    residuals[i] = static_cast<float>(r);
    nonempty[i] = std::sqrt(now2) * inv_sqrt_c > c_.min_feature_norm || std::sqrt(prev2) * inv_sqrt_c > c_.min_feature_norm;
    if (!nonempty[i]) continue;
    if (src[i] >= 0 && p <= c_.background_confidence_max) calib.push_back(static_cast<float>(r));
    if (src[i] >= 0 && r > tau) {
      changed.push_back(static_cast<std::uint32_t>(i));
    } else if (last_sent[i] < 0) {
      never.push_back(static_cast<std::uint32_t>(i));
    } else if (frame_ - last_sent[i] >= c_.refresh_period_frames) {
      refresh.push_back(static_cast<std::uint32_t>(i));
    }
  }
  last_.changed = changed.size(), last_.never_sent = never.size(), last_.refresh_due = refresh.size();
  std::stable_sort(changed.begin(), changed.end(), [&](std::uint32_t a, std::uint32_t b) { return scores_[a] > scores_[b]; });
  if (have_conf)
    std::stable_sort(never.begin(), never.end(), [&](std::uint32_t a, std::uint32_t b) { return m.confidence[a] > m.confidence[b]; });
  std::stable_sort(refresh.begin(), refresh.end(), [&](std::uint32_t a, std::uint32_t b) { return last_sent[a] < last_sent[b]; });
  std::vector<std::uint32_t> priority;
  priority.reserve(changed.size() + never.size() + refresh.size());
  priority.insert(priority.end(), changed.begin(), changed.end());
  priority.insert(priority.end(), never.begin(), never.end());
  priority.insert(priority.end(), refresh.begin(), refresh.end());
  SelectionResult res = fit_budget(m, in.anchors, priority, b_);

  // Update the state: sent cells, calibration window (seeded subsample), previous frame.
  for (auto i : res.cells) last_sent[i] = frame_;
  last_sent_ = std::move(last_sent);
  const std::size_t cap = static_cast<std::size_t>(c_.calibration_samples_per_frame);
  if (calib.size() > cap) {
    Rng rng = Rng(c_.seed).fork(static_cast<std::uint64_t>(frame_));
    for (std::size_t i = 0; i < cap; ++i)
      std::swap(calib[i], calib[i + static_cast<std::size_t>(rng.next_u64() % (calib.size() - i))]);
    calib.resize(cap);
  }
  if (have_prev_) {  // the first frame has no residuals, only "new" cells
    window_.push_back(std::move(calib));
    while (window_.size() > static_cast<std::size_t>(c_.calibration_frames)) window_.pop_front();
  }
  last_.calibration_scores = 0;
  for (const auto& w : window_) last_.calibration_scores += w.size();
  prev_ = m;
  prev_T_world_lidar_ = in.T_world_lidar;
  have_prev_ = true;
  ++frame_;
  return res;
}

}  // namespace v2x::selection
