#include "v2x/detection/nms.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

namespace v2x::detection {

namespace {
struct Aabb {
  double x0, x1, y0, y1, area;
};
Aabb aabb_of(const Box3D& b) {
  const double c = std::abs(std::cos(b.yaw_rad)), s = std::abs(std::sin(b.yaw_rad));
  const double hx = 0.5 * (c * b.l_m + s * b.w_m), hy = 0.5 * (s * b.l_m + c * b.w_m);
  return {b.center.x() - hx, b.center.x() + hx, b.center.y() - hy, b.center.y() + hy, b.l_m * b.w_m};
}
double bound_of(const Aabb& a, const Aabb& b) {
  const double ox = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
  const double oy = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  if (ox <= 0 || oy <= 0) return 0.0;
  const double inter_ub = std::min({ox * oy, a.area, b.area});
  const double uni = a.area + b.area - inter_ub;
  return uni > 0 ? inter_ub / uni : 1.0;
}
bool finite_box(const Box3D& b) {
  return b.center.allFinite() && std::isfinite(b.l_m) && std::isfinite(b.w_m) && std::isfinite(b.h_m) &&
         std::isfinite(b.yaw_rad);
}
}  // namespace

double bev_iou_upper_bound(const Box3D& a, const Box3D& b) { return bound_of(aabb_of(a), aabb_of(b)); }

std::vector<int> nms_rotated(std::span<const Box3D> boxes, std::span<const float> scores, double iou_threshold,
                             int top_k) {
  const std::size_t n = std::min(boxes.size(), scores.size());
  std::vector<int> order;
  order.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if (std::isfinite(scores[i]) && finite_box(boxes[i])) order.push_back(static_cast<int>(i));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  if (top_k > 0 && order.size() > static_cast<std::size_t>(top_k)) order.resize(top_k);

  std::vector<Aabb> ab(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) ab[k] = aabb_of(boxes[order[k]]);
  std::vector<char> removed(order.size(), 0);
  std::vector<int> keep;
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (removed[k]) continue;
    keep.push_back(order[k]);
    for (std::size_t j = k + 1; j < order.size(); ++j) {
      if (removed[j]) continue;
      // bound <= threshold implies IoU <= threshold: never suppressed (strict >), no exact IoU needed.
      if (bound_of(ab[k], ab[j]) <= iou_threshold) continue;
      if (bev_iou(boxes[order[k]], boxes[order[j]]) > iou_threshold) removed[j] = 1;
    }
  }
  return keep;
}

}  // namespace v2x::detection
