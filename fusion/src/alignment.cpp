#include "v2x/fusion/alignment.hpp"

#include <algorithm>
#include <cmath>

namespace v2x::fusion {

Pose relative_pose(const Pose& T_world_ego, const Pose& T_world_peer) { return T_world_ego.inverse() * T_world_peer; }

std::vector<SparseAnchor> anchors_to_ego(const std::vector<SparseAnchor>& anchors, const Pose& T_ego_peer) {
  std::vector<SparseAnchor> out;
  out.reserve(anchors.size());
  for (const auto& a : anchors) {
    SparseAnchor b = a;
    b.box = a.box.transformed(T_ego_peer);
    out.push_back(std::move(b));
  }
  return out;
}

namespace {
bool finite_box(const Box3D& b) {
  return std::isfinite(b.center.x()) && std::isfinite(b.center.y()) && std::isfinite(b.center.z()) &&
         std::isfinite(b.yaw_rad) && std::isfinite(b.l_m) && std::isfinite(b.w_m) && std::isfinite(b.h_m);
}
double dist2d(const Eigen::Vector3d& a, const Eigen::Vector3d& b) { return std::hypot(a.x() - b.x(), a.y() - b.y()); }
}  // namespace

PoseCheck check_pose_consistency(const std::vector<Detection>& ego_detections,
                                 const std::vector<SparseAnchor>& peer_anchors_ego, const Pose& T_ego_peer,
                                 double age_s, const AlignmentConfig& cfg) {
  const Eigen::Vector3d peer_pos = T_ego_peer.translation();
  const Eigen::Vector3d ego_pos(0, 0, 0);
  auto shared = [&](const Box3D& b) {
    return finite_box(b) && dist2d(b.center, ego_pos) <= cfg.check_range_m &&
           dist2d(b.center, peer_pos) <= cfg.check_range_m;
  };
  std::vector<Eigen::Vector3d> ego_c, peer_c;
  for (const auto& d : ego_detections)
    if (d.score >= cfg.check_score_min && shared(d.box)) ego_c.push_back(d.box.center);
  for (const auto& a : peer_anchors_ego)
    if (a.score >= cfg.check_score_min && shared(a.box)) peer_c.push_back(a.box.center);
  const double tol = cfg.check_match_dist_m + std::max(0.0, age_s) * cfg.check_speed_mps;
  auto has_partner = [&](const Eigen::Vector3d& p, const std::vector<Eigen::Vector3d>& others) {
    for (const auto& o : others)
      if (dist2d(p, o) <= tol) return true;
    return false;
  };
  PoseCheck r;
  r.expected = static_cast<int>(ego_c.size() + peer_c.size());
  for (const auto& p : ego_c) r.agreed += has_partner(p, peer_c) ? 1 : 0;
  for (const auto& p : peer_c) r.agreed += has_partner(p, ego_c) ? 1 : 0;
  r.consistent = r.expected < cfg.check_min_expected ||
                 static_cast<double>(r.agreed) >= cfg.check_min_agreement * static_cast<double>(r.expected);
  return r;
}

PeerRequirements requirements_from(const EgoInput& ego) {
  PeerRequirements r;
  if (ego.features != nullptr && ego.features->channels > 0) {
    r.check_grid = true;
    r.grid = ego.features->grid;
    r.channels = ego.features->channels;
  }
  return r;
}

namespace {
bool grid_ok(const SparseFeatures& m, const PeerRequirements& req) {
  if (!req.check_grid) return true;
  if (!(m.grid == req.grid)) return false;
  if (m.num_cells() > 0 && m.channels != req.channels) return false;
  const int ad = m.anchor_dim();
  if (ad != 0 && ad != req.channels) return false;
  for (const auto& a : m.anchors)
    if (static_cast<int>(a.feature.size()) != ad) return false;
  // Structural consistency (comm validates this; a hand-built input may not be).
  if (m.values.size() != m.num_cells() * static_cast<std::size_t>(std::max(0, m.channels))) return false;
  const auto n = static_cast<std::uint32_t>(m.grid.num_cells());
  for (auto c : m.cell_indices)
    if (c >= n) return false;
  return true;
}
}  // namespace

std::vector<AlignedPeer> align_peers(const EgoInput& ego, const std::vector<PeerInput>& peers,
                                     const AlignmentConfig& cfg, const PeerRequirements& req, FusionStats* stats) {
  FusionStats local;
  FusionStats& st = stats ? *stats : local;
  std::vector<AlignedPeer> out;
  static const std::vector<Detection> kNone;
  const std::vector<Detection>& ego_dets = ego.local ? ego.local->detections : kNone;
  for (const auto& p : peers) {
    const double age_s = ns_to_s(p.age_ns);
    if (p.age_ns < 0 || age_s * 1e3 > cfg.max_age_ms) {
      ++st.peers_dropped_stale;
      continue;
    }
    if (!grid_ok(p.msg, req)) {
      ++st.peers_dropped_grid;
      continue;
    }
    AlignedPeer a;
    a.input = &p;
    a.T_ego_peer = relative_pose(ego.T_world_lidar, p.msg.T_world_lidar);
    if (!a.T_ego_peer.matrix().allFinite()) {
      ++st.peers_down_weighted;
      continue;
    }
    a.age_s = age_s;
    a.distance_m = std::hypot(a.T_ego_peer.translation().x(), a.T_ego_peer.translation().y());
    a.kind = p.is_rsu ? kAgentRsu : kAgentVehicle;
    a.anchors_ego = anchors_to_ego(p.msg.anchors, a.T_ego_peer);
    if (cfg.check_pose && ego.local != nullptr) {
      const PoseCheck pc = check_pose_consistency(ego_dets, a.anchors_ego, a.T_ego_peer, age_s, cfg);
      if (!pc.consistent) {
        ++st.peers_down_weighted;
        continue;
      }
    }
    out.push_back(std::move(a));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const AlignedPeer& x, const AlignedPeer& y) { return x.distance_m < y.distance_m; });
  st.peers_used = static_cast<int>(out.size());
  return out;
}

// ---- dense resampling ----

PeerCellIndex::PeerCellIndex(const SparseFeatures& msg)
    : grid_(msg.grid), w_(msg.grid.width()), h_(msg.grid.height()), channels_(msg.channels) {
  row_.assign(static_cast<std::size_t>(std::max(0, w_)) * static_cast<std::size_t>(std::max(0, h_)), -1);
  if (channels_ <= 0 || msg.values.size() < msg.num_cells() * static_cast<std::size_t>(channels_)) return;
  for (std::size_t i = 0; i < msg.cell_indices.size(); ++i)
    if (msg.cell_indices[i] < row_.size()) row_[msg.cell_indices[i]] = static_cast<std::int32_t>(i);
  values_ = msg.values.data();
}

const float* PeerCellIndex::cell(int ix, int iy) const {
  if (values_ == nullptr || ix < 0 || iy < 0 || ix >= w_ || iy >= h_) return nullptr;
  const std::int32_t r = row_[static_cast<std::size_t>(iy) * w_ + ix];
  return r < 0 ? nullptr : values_ + static_cast<std::size_t>(r) * channels_;
}

const float* PeerCellIndex::at(double x_m, double y_m) const {
  if (values_ == nullptr || !std::isfinite(x_m) || !std::isfinite(y_m)) return nullptr;
  const double fx = (x_m - grid_.x_min_m) / grid_.cell_m, fy = (y_m - grid_.y_min_m) / grid_.cell_m;
  if (fx < 0 || fy < 0 || fx >= w_ || fy >= h_) return nullptr;
  return cell(static_cast<int>(fx), static_cast<int>(fy));
}

WarpedMap warp_cells_to_ego(const SparseFeatures& msg, const Pose& T_ego_peer, const BevGrid& ego_grid,
                            WarpMode mode) {
  WarpedMap out;
  out.channels = std::max(0, msg.channels);
  out.width = ego_grid.width();
  out.height = ego_grid.height();
  const std::size_t hw = static_cast<std::size_t>(out.width) * out.height;
  out.data.assign(hw * out.channels, 0.f);
  out.mask.assign(hw, 0);
  const PeerCellIndex index(msg);
  if (out.channels == 0 || msg.num_cells() == 0) return out;
  // Planar map ego → peer (cells are 2-D): p_peer = R p_ego + t with R, t of T_peer_ego restricted to x, y.
  const Pose T_peer_ego = T_ego_peer.inverse();
  const Eigen::Matrix3d R = T_peer_ego.linear();
  const Eigen::Vector3d t = T_peer_ego.translation();
  const BevGrid& pg = msg.grid;
  const int C = out.channels;
  std::vector<float> acc(C);
  for (int iy = 0; iy < out.height; ++iy) {
    const double y = ego_grid.cell_center_y(iy);
    for (int ix = 0; ix < out.width; ++ix) {
      const double x = ego_grid.cell_center_x(ix);
      const double px = R(0, 0) * x + R(0, 1) * y + t.x();
      const double py = R(1, 0) * x + R(1, 1) * y + t.y();
      const std::size_t cell = static_cast<std::size_t>(iy) * out.width + ix;
      if (mode == WarpMode::Nearest) {
        const float* v = index.at(px, py);
        if (v == nullptr) continue;
        for (int c = 0; c < C; ++c) out.data[c * hw + cell] = v[c];
        out.mask[cell] = 1;
        continue;
      }
      // Bilinear between the four surrounding cell centres; missing cells get no weight.
      const double fx = (px - pg.x_min_m) / pg.cell_m - 0.5, fy = (py - pg.y_min_m) / pg.cell_m - 0.5;
      if (!std::isfinite(fx) || !std::isfinite(fy)) continue;
      const int x0 = static_cast<int>(std::floor(fx)), y0 = static_cast<int>(std::floor(fy));
      const double ax = fx - x0, ay = fy - y0;
      double wsum = 0;
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int dy = 0; dy <= 1; ++dy)
        for (int dx = 0; dx <= 1; ++dx) {
          const float* v = index.cell(x0 + dx, y0 + dy);
          const double w = (dx ? ax : 1 - ax) * (dy ? ay : 1 - ay);
          if (v == nullptr || w <= 0) continue;
          wsum += w;
          for (int c = 0; c < C; ++c) acc[c] += static_cast<float>(w) * v[c];
        }
      if (wsum < 0.25) continue;  // mostly outside what was received
      const float inv = static_cast<float>(1.0 / wsum);
      for (int c = 0; c < C; ++c) out.data[c * hw + cell] = acc[c] * inv;
      out.mask[cell] = 1;
    }
  }
  return out;
}

Pose perturb_pose(const Pose& T, double position_sigma_m, double yaw_sigma_deg, Rng& rng) {
  const double dx = rng.normal(0, position_sigma_m), dy = rng.normal(0, position_sigma_m);
  const double dyaw = deg_to_rad(rng.normal(0, yaw_sigma_deg));
  Pose out = T;
  out.linear() = Eigen::AngleAxisd(dyaw, Eigen::Vector3d::UnitZ()).toRotationMatrix() * T.linear();
  out.translation() = T.translation() + Eigen::Vector3d(dx, dy, 0);
  return out;
}

}  // namespace v2x::fusion
