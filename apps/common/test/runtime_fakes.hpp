#pragma once
// Test doubles for the runtime plumbing tests (never a product path): a Perception that turns dense point blobs
// into BEV features and boxes, and a Fuser that records its input and merges peer anchors (late-fusion-like).
#include <algorithm>
#include <cmath>
#include <vector>

#include "v2x/apps/node_runtime.hpp"
#include "v2x/core/rng.hpp"

namespace v2x::test {
using namespace v2x::apps;
// Fake perception: C = 4 channels per BEV cell (point count, mean z, mean intensity, 1), confidence =
// min(1, count / 10), one detection (and proposal with a 4-d feature) per cell holding ≥ 20 points.
class FakePerception final : public Perception {
 public:
  explicit FakePerception(BevGrid grid = BevGrid{-12.8, 12.8, -12.8, 12.8, 0.8}) : grid_(grid) {}
  LocalPerception perceive(const AgentFrame& frame, AgentId agent, SensorSet sensors) override {
    ++calls;
    const PointCloud& cloud = frame.cloud;
    const TimestampNs stamp_ns = frame.stamp_ns;
    if (!uses_lidar(sensors)) return empty_perception(grid_, 4, agent, stamp_ns);
    LocalPerception out;
    out.modality = kModalityLidar;
    const int W = grid_.width(), H = grid_.height();
    FeatureMap& f = out.features;
    f = FeatureMap(4, H, W);
    f.grid = grid_;
    f.agent = agent;
    f.stamp_ns = stamp_ns;
    f.confidence.assign(f.cells(), 0.f);
    std::vector<int> count(f.cells(), 0);
    for (std::size_t i = 0; i < cloud.size(); ++i) {
      auto c = grid_.cell_of(cloud.x[i], cloud.y[i]);
      if (!c) continue;
      const int idx = c->second * W + c->first;
      ++count[idx];
      f.at(1, c->second, c->first) += cloud.z[i];
      f.at(2, c->second, c->first) += cloud.intensity[i];
    }
    out.detections.agent = agent;
    out.detections.stamp_ns = stamp_ns;
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const int n = count[y * W + x];
        if (n == 0) continue;
        f.at(0, y, x) = static_cast<float>(n);
        f.at(1, y, x) /= static_cast<float>(n);
        f.at(2, y, x) /= static_cast<float>(n);
        f.at(3, y, x) = 1.f;
        f.confidence[y * W + x] = std::min(1.f, static_cast<float>(n) / 10.f);
        if (n >= 20) {
          Detection d;
          d.box.center = Eigen::Vector3d(grid_.cell_center_x(x), grid_.cell_center_y(y), 0.0);
          d.box.l_m = 4.0, d.box.w_m = 1.8, d.box.h_m = 1.5;
          d.score = std::min(1.f, static_cast<float>(n) / 40.f);
          out.detections.detections.push_back(d);
          out.proposals.push_back(SparseAnchor{d.box, d.score, {f.at(0, y, x), f.at(1, y, x), f.at(2, y, x), 1.f}});
        }
      }
    return out;
  }
  BevGrid feature_grid() const override { return grid_; }
  int channels() const override { return 4; }
  int calls = 0;

 private:
  BevGrid grid_;
};

// Fake fuser: ego detections + every peer anchor moved into the ego frame that is not within 1 m of a box already
// kept; records what it was given.
class RecordingFuser final : public fusion::Fuser {
 public:
  explicit RecordingFuser(fusion::FusionMethod m) : m_(m) {}
  fusion::FusionMethod method() const override { return m_; }
  DetectionList fuse(const fusion::EgoInput& ego, const std::vector<fusion::PeerInput>& peers,
                     fusion::FusionStats* stats) override {
    last_peers = peers;
    DetectionList out = *ego.local;
    for (const auto& p : peers) {
      const Pose T_ego_peer = ego.T_world_lidar.inverse() * p.msg.T_world_lidar;
      for (const auto& a : p.msg.anchors) {
        const Box3D b = a.box.transformed(T_ego_peer);
        bool dup = false;
        for (const auto& d : out.detections) dup = dup || (d.box.center - b.center).head<2>().norm() < 1.0;
        if (!dup) out.detections.push_back(Detection{b, a.score});
      }
    }
    if (stats) stats->peers_used = static_cast<int>(peers.size());
    return out;
  }
  std::vector<fusion::PeerInput> last_peers;

 private:
  fusion::FusionMethod m_;
};

// A cloud with dense blobs (objects) and sparse ground, seeded.
inline PointCloud make_cloud(std::uint64_t seed, int blobs = 4) {
  Rng rng(seed);
  PointCloud c;
  for (int i = 0; i < 400; ++i)
    c.push_back(static_cast<float>(rng.uniform(-12, 12)), static_cast<float>(rng.uniform(-12, 12)), -1.7f,
                static_cast<float>(rng.uniform()));
  for (int b = 0; b < blobs; ++b) {
    const double cx = rng.uniform(-10, 10), cy = rng.uniform(-10, 10);
    for (int i = 0; i < 60; ++i)
      c.push_back(static_cast<float>(cx + rng.uniform(-0.3, 0.3)), static_cast<float>(cy + rng.uniform(-0.3, 0.3)),
                  static_cast<float>(rng.uniform(-1.5, 0.0)), 0.5f);
  }
  return c;
}

}  // namespace v2x::test
