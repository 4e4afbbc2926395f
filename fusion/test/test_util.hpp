#pragma once
// Small builders for fusion tests: boxes, detections, peer messages, feature maps.
#include <vector>

#include "v2x/core/detection.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/sparse_features.hpp"
#include "v2x/fusion/fuser.hpp"

namespace v2x::fusion::test {

inline Box3D car(double x, double y, double yaw = 0.0) {
  Box3D b;
  b.center = {x, y, -1.0};
  b.l_m = 4.0, b.w_m = 1.8, b.h_m = 1.6, b.yaw_rad = yaw;
  return b;
}

inline DetectionList dets(const std::vector<Box3D>& boxes, float score = 0.9f) {
  DetectionList d;
  for (const auto& b : boxes) d.detections.push_back(Detection{b, score, ObjectClass::Car});
  return d;
}

// A peer message with anchors (boxes in the peer frame) and no cells.
inline PeerInput peer_with_boxes(const Pose& T_world_peer_believed, const std::vector<Box3D>& boxes_peer,
                                 const BevGrid& grid, float score = 0.9f, TimestampNs age_ns = 0) {
  PeerInput p;
  p.msg.sender = 7;
  p.msg.T_world_lidar = T_world_peer_believed;
  p.msg.grid = grid;
  for (const auto& b : boxes_peer) p.msg.anchors.push_back(SparseAnchor{b, score, {}});
  p.age_ns = age_ns;
  return p;
}

// A (C, H, W) map whose cell values encode their position: f_c(x, y) = c + 0.01 * (iy * W + ix).
inline FeatureMap indexed_map(const BevGrid& g, int C) {
  FeatureMap m(C, g.height(), g.width());
  m.grid = g;
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < m.height; ++y)
      for (int x = 0; x < m.width; ++x) m.at(c, y, x) = static_cast<float>(c + 0.01 * (y * m.width + x));
  m.confidence.assign(m.cells(), 0.5f);
  return m;
}

// Every cell of `m` as a message.
inline SparseFeatures all_cells(const FeatureMap& m, const Pose& T_world_lidar) {
  SparseFeatures f;
  f.T_world_lidar = T_world_lidar;
  f.grid = m.grid;
  f.channels = m.channels;
  for (std::uint32_t i = 0; i < m.cells(); ++i) f.cell_indices.push_back(i);
  f.values.resize(m.cells() * m.channels);
  for (std::size_t i = 0; i < m.cells(); ++i)
    for (int c = 0; c < m.channels; ++c) f.values[i * m.channels + c] = m.data[c * m.cells() + i];
  return f;
}

// True positives at an IoU threshold (each GT matched at most once, greedy by score).
inline int true_positives(const DetectionList& d, const std::vector<Box3D>& gt, double iou) {
  std::vector<bool> used(gt.size(), false);
  std::vector<const Detection*> order;
  for (const auto& x : d.detections) order.push_back(&x);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->score > b->score; });
  int tp = 0;
  for (auto* x : order)
    for (std::size_t g = 0; g < gt.size(); ++g)
      if (!used[g] && bev_iou(x->box, gt[g]) >= iou) {
        used[g] = true;
        ++tp;
        break;
      }
  return tp;
}

}  // namespace v2x::fusion::test
