#include "v2x/detection/decoder.hpp"

#include <algorithm>
#include <cmath>

#include "v2x/core/pose.hpp"
#include "v2x/detection/nms.hpp"

namespace v2x::detection {

std::vector<Proposal> decode_head(const AnchorGrid& anchors, const float* cls_logits, const float* box_deltas,
                                  const float* dir_logits, const DecodeConfig& cfg, const BoxCoderConfig& coder,
                                  DecodeStats* stats) {
  DecodeStats st;
  const std::int64_t N = anchors.size();
  // Candidates above the score threshold, as (score, flat anchor index).
  std::vector<std::pair<float, std::int64_t>> cand;
  const float thr = static_cast<float>(cfg.score_threshold);
  for (std::int64_t i = 0; i < N; ++i) {
    const float z = cls_logits[i];
    if (!std::isfinite(z)) {  // NaN or ±inf logit: corrupt head output, counted
      ++st.non_finite;
      continue;
    }
    // Cheap reject: sigmoid(z) > thr needs z > logit(thr); checked exactly below.
    if (z <= 0 && thr >= 0.5f) continue;
    const float s = 1.f / (1.f + std::exp(-z));
    if (s > thr) cand.emplace_back(s, i);
  }
  st.above_threshold = static_cast<int>(cand.size());
  const auto by_score = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  const std::size_t k = std::min<std::size_t>(cand.size(), static_cast<std::size_t>(cfg.pre_nms_top_k));
  std::partial_sort(cand.begin(), cand.begin() + k, cand.end(), by_score);
  cand.resize(k);

  std::vector<Box3D> boxes;
  std::vector<float> scores;
  std::vector<std::int64_t> idx;
  boxes.reserve(k);
  scores.reserve(k);
  idx.reserve(k);
  const int bins = coder.num_dir_bins;
  for (const auto& [s, i] : cand) {
    float b[7];
    decode_box(anchors.box(i), box_deltas + 7 * i, b);
    bool ok = true;
    for (float v : b) ok = ok && std::isfinite(v);
    ok = ok && b[3] > 0 && b[4] > 0 && b[5] > 0;
    double yaw = b[6];
    if (ok && cfg.use_direction && dir_logits != nullptr) {
      const float* d = dir_logits + static_cast<std::int64_t>(bins) * i;
      int best = 0;
      for (int j = 0; j < bins; ++j) {
        if (!std::isfinite(d[j])) ok = false;
        if (d[j] > d[best]) best = j;
      }
      yaw = apply_direction(yaw, best, coder);
    } else {
      yaw = wrap_angle(yaw);
    }
    if (!ok) {
      ++st.non_finite;
      continue;
    }
    Box3D box;
    box.center = {b[0], b[1], b[2]};
    box.l_m = b[3];
    box.w_m = b[4];
    box.h_m = b[5];
    box.yaw_rad = yaw;
    if (cfg.max_bev_extent_m > 0) {
      const double c = std::abs(std::cos(yaw)), sn = std::abs(std::sin(yaw));
      if (c * box.l_m + sn * box.w_m > cfg.max_bev_extent_m || sn * box.l_m + c * box.w_m > cfg.max_bev_extent_m) {
        ++st.too_large;
        continue;
      }
    }
    boxes.push_back(box);
    scores.push_back(s);
    idx.push_back(i);
  }

  const std::vector<int> keep = nms_rotated(boxes, scores, cfg.nms_iou, /*top_k=*/0);
  std::vector<Proposal> out;
  out.reserve(std::min<std::size_t>(keep.size(), cfg.max_detections));
  for (int j : keep) {
    if (out.size() >= static_cast<std::size_t>(cfg.max_detections)) break;
    const AnchorIndex ai = unflatten_anchor(idx[j], anchors.width, anchors.anchors_per_cell);
    out.push_back(Proposal{boxes[j], scores[j], idx[j], ai.iy, ai.ix, ai.a});
  }
  if (stats) *stats = st;
  return out;
}

DetectionList to_detection_list(const std::vector<Proposal>& proposals, AgentId agent, TimestampNs stamp_ns) {
  DetectionList l;
  l.agent = agent;
  l.stamp_ns = stamp_ns;
  l.detections.reserve(proposals.size());
  for (const Proposal& p : proposals) l.detections.push_back(Detection{p.box, p.score, ObjectClass::Car});
  return l;
}

}  // namespace v2x::detection
