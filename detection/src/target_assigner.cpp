#include "v2x/detection/target_assigner.hpp"

#include <algorithm>
#include <cmath>

#include "v2x/detection/nms.hpp"

namespace v2x::detection {

void AssignerConfig::check(const std::string& file) const {
  if (neg_iou > pos_iou) throw ConfigError(file, "neg_iou", "must not exceed pos_iou");
}

TargetAssigner::TargetAssigner(const AnchorConfig& anchors, const AssignerConfig& assign, const BoxCoderConfig& coder)
    : anchor_cfg_(anchors), assign_(assign), coder_(coder) {
  validate_config(anchor_cfg_);
  validate_config(assign_);
  validate_config(coder_);
  anchors_ = generate_anchors(anchor_cfg_);
  const int A = anchors_.anchors_per_cell;
  half_ext_x_.resize(A);
  half_ext_y_.resize(A);
  area_.resize(A);
  for (int a = 0; a < A; ++a) {
    const float* b = anchors_.box(a);  // cell (0, 0): slots are identical in every cell
    const double c = std::abs(std::cos(double(b[6]))), s = std::abs(std::sin(double(b[6])));
    half_ext_x_[a] = 0.5 * (c * b[3] + s * b[4]);
    half_ext_y_[a] = 0.5 * (s * b[3] + c * b[4]);
    area_[a] = double(b[3]) * b[4];
  }
}

void TargetAssigner::assign(const float* gt7, int num_gt, AssignmentTargets& out) const {
  // Small per-call conversion; Box3D is the unit the exact IoU works on.
  thread_local std::vector<Box3D> boxes;
  boxes.resize(static_cast<std::size_t>(std::max(0, num_gt)));
  for (int g = 0; g < num_gt; ++g) {
    const float* b = gt7 + 7 * g;
    boxes[g].center = {b[0], b[1], b[2]};
    boxes[g].l_m = b[3];
    boxes[g].w_m = b[4];
    boxes[g].h_m = b[5];
    boxes[g].yaw_rad = b[6];
  }
  assign(std::span<const Box3D>(boxes), out);
}

namespace {
Box3D anchor_box(const float* a) {
  Box3D b;
  b.center = {a[0], a[1], a[2]};
  b.l_m = a[3];
  b.w_m = a[4];
  b.h_m = a[5];
  b.yaw_rad = a[6];
  return b;
}
bool valid_box(const Box3D& b) {
  return b.center.allFinite() && std::isfinite(b.yaw_rad) && std::isfinite(b.l_m) && std::isfinite(b.w_m) &&
         std::isfinite(b.h_m) && b.l_m > 0 && b.w_m > 0 && b.h_m > 0;
}
struct Candidate {
  double bound;
  std::int64_t anchor;
};
}  // namespace

void TargetAssigner::assign(std::span<const Box3D> gt, AssignmentTargets& out) const {
  const std::int64_t N = anchors_.size();
  const int W = anchors_.width, H = anchors_.height, A = anchors_.anchors_per_cell;
  out.labels.assign(N, 0);
  out.box_targets.assign(N * 7, 0.f);
  out.dir_targets.assign(N, -1);
  out.matched_gt.assign(N, -1);  // during the IoU pass: argmax GT of each anchor
  out.max_iou.assign(N, 0.f);
  out.positives.clear();
  out.num_positive = out.num_negative = out.skipped_gt = 0;

  // Scratch reused per thread: candidates of one GT, best anchor per GT.
  thread_local std::vector<Candidate> cand;
  thread_local std::vector<std::int64_t> best_anchor;
  best_anchor.assign(gt.size(), -1);

  const double cell = anchor_cfg_.cell_m, x0 = anchor_cfg_.x_min_m, y0 = anchor_cfg_.y_min_m;
  const double hx_max = *std::max_element(half_ext_x_.begin(), half_ext_x_.end());
  const double hy_max = *std::max_element(half_ext_y_.begin(), half_ext_y_.end());
  const double neg = assign_.neg_iou;

  for (std::size_t g = 0; g < gt.size(); ++g) {
    const Box3D& box = gt[g];
    if (!valid_box(box)) {
      ++out.skipped_gt;
      continue;
    }
    const auto corners = box.bev_corners();
    double gx0 = corners[0].x(), gx1 = gx0, gy0 = corners[0].y(), gy1 = gy0;
    for (const auto& c : corners) {
      gx0 = std::min(gx0, c.x());
      gx1 = std::max(gx1, c.x());
      gy0 = std::min(gy0, c.y());
      gy1 = std::max(gy1, c.y());
    }
    const double g_area = box.bev_area();
    // Second bound, in the GT's own frame: the anchor's axis-aligned box there against the GT rectangle.
    // (For 0°/90° anchors the world-frame bound equals the anchor-frame one; this adds the GT-frame view.)
    const double cg = std::cos(box.yaw_rad), sg = std::sin(box.yaw_rad);
    const double ghl = 0.5 * box.l_m, ghw = 0.5 * box.w_m;
    thread_local std::vector<double> ghx, ghy;
    ghx.resize(A);
    ghy.resize(A);
    for (int a = 0; a < A; ++a) {
      const float* ab = anchors_.box(a);
      const double phi = double(ab[6]) - box.yaw_rad;
      const double c = std::abs(std::cos(phi)), s = std::abs(std::sin(phi));
      ghx[a] = 0.5 * (c * ab[3] + s * ab[4]);
      ghy[a] = 0.5 * (s * ab[3] + c * ab[4]);
    }
    // Cells whose anchor centre cx satisfies gx0 - hx < cx < gx1 + hx, cx = x0 + (ix + 0.5) * cell.
    const int ix_lo = std::max(0, static_cast<int>(std::ceil((gx0 - hx_max - x0) / cell - 0.5)));
    const int ix_hi = std::min(W - 1, static_cast<int>(std::floor((gx1 + hx_max - x0) / cell - 0.5)));
    const int iy_lo = std::max(0, static_cast<int>(std::ceil((gy0 - hy_max - y0) / cell - 0.5)));
    const int iy_hi = std::min(H - 1, static_cast<int>(std::floor((gy1 + hy_max - y0) / cell - 0.5)));
    if (ix_lo > ix_hi || iy_lo > iy_hi) continue;

    cand.clear();
    for (int iy = iy_lo; iy <= iy_hi; ++iy) {
      const double cy = y0 + (iy + 0.5) * cell;
      for (int ix = ix_lo; ix <= ix_hi; ++ix) {
        const double cx = x0 + (ix + 0.5) * cell;
        for (int a = 0; a < A; ++a) {
          const double ox = std::min(cx + half_ext_x_[a], gx1) - std::max(cx - half_ext_x_[a], gx0);
          const double oy = std::min(cy + half_ext_y_[a], gy1) - std::max(cy - half_ext_y_[a], gy0);
          if (ox <= 0 || oy <= 0) continue;
          const double dx = cx - box.center.x(), dy = cy - box.center.y();
          const double u = cg * dx + sg * dy, v = -sg * dx + cg * dy;  // anchor centre in the GT frame
          const double ou = std::min(u + ghx[a], ghl) - std::max(u - ghx[a], -ghl);
          const double ov = std::min(v + ghy[a], ghw) - std::max(v - ghy[a], -ghw);
          if (ou <= 0 || ov <= 0) continue;  // separated along a GT axis: IoU = 0
          // The exact intersection lies inside both bounding boxes (world frame, GT frame) and inside each box.
          const double inter_ub = std::min({ox * oy, ou * ov, area_[a], g_area});
          const double bound = inter_ub / (area_[a] + g_area - inter_ub);
          cand.push_back({bound, (static_cast<std::int64_t>(iy) * W + ix) * A + a});
        }
      }
    }
    std::sort(cand.begin(), cand.end(), [](const Candidate& l, const Candidate& r) {
      return l.bound > r.bound || (l.bound == r.bound && l.anchor < r.anchor);
    });
    // Exact IoU wherever it can decide the label (bound >= neg_iou) or can still beat this GT's best anchor.
    double best = 0.0;
    for (const Candidate& c : cand) {
      if (c.bound < neg && c.bound <= best) break;
      const double iou = bev_iou(anchor_box(anchors_.box(c.anchor)), box);
      if (iou > best) {
        best = iou;
        best_anchor[g] = c.anchor;
      }
      if (iou > out.max_iou[c.anchor]) {
        out.max_iou[c.anchor] = static_cast<float>(iou);
        out.matched_gt[c.anchor] = static_cast<std::int32_t>(g);
      }
    }
  }

  const float pos_thr = static_cast<float>(assign_.pos_iou), neg_thr = static_cast<float>(assign_.neg_iou);
  for (std::int64_t i = 0; i < N; ++i) {
    const float m = out.max_iou[i];
    if (m > pos_thr) {
      out.labels[i] = 1;
    } else {
      out.labels[i] = m < neg_thr ? 0 : -1;
    }
  }
  for (std::size_t g = 0; g < gt.size(); ++g) {
    if (best_anchor[g] < 0) continue;  // no anchor with IoU > 0 (outside the grid)
    out.labels[best_anchor[g]] = 1;
    out.matched_gt[best_anchor[g]] = static_cast<std::int32_t>(g);
  }
  for (std::int64_t i = 0; i < N; ++i) {
    if (out.labels[i] != 1) {
      out.matched_gt[i] = -1;
      if (out.labels[i] == 0) ++out.num_negative;
      continue;
    }
    const Box3D& b = gt[out.matched_gt[i]];
    const float g7[7] = {static_cast<float>(b.center.x()), static_cast<float>(b.center.y()),
                         static_cast<float>(b.center.z()), static_cast<float>(b.l_m), static_cast<float>(b.w_m),
                         static_cast<float>(b.h_m), static_cast<float>(b.yaw_rad)};
    encode_box(anchors_.box(i), g7, out.box_targets.data() + 7 * i);
    out.dir_targets[i] = static_cast<std::int8_t>(direction_target(b.yaw_rad, coder_));
    out.positives.push_back(i);
  }
  out.num_positive = static_cast<int>(out.positives.size());
}

}  // namespace v2x::detection
