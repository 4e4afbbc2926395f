#pragma once
// The fusion stage's interface (step 7 of a frame): the ego's own perception plus what peers sent → fused
// detections in the ego LiDAR frame. Implementations: none, late, early, max (F-Cooper), attn (AttFuse),
// anchor (anchor-centric cross-attention). NodeRuntime owns one Fuser per agent.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "v2x/core/config.hpp"
#include "v2x/core/detection.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/point_cloud.hpp"
#include "v2x/core/pose.hpp"
#include "v2x/core/sparse_features.hpp"

namespace v2x::fusion {

enum class FusionMethod : std::uint8_t { None = 0, Late, Early, Max, Attn, Anchor };

// What the ego knows about itself at its frame time.
struct EgoInput {
  AgentId id = 0;
  TimestampNs stamp_ns = 0;
  Pose T_world_lidar = Pose::Identity();   // the ego's own (possibly noisy) pose estimate
  const PointCloud* cloud = nullptr;       // ego LiDAR frame (early fusion re-runs the detector on merged points)
  const FeatureMap* features = nullptr;    // ego BEV map (C, H, W) + confidence (H, W)
  const DetectionList* local = nullptr;    // ego-only detections after NMS
  const std::vector<SparseAnchor>* proposals = nullptr;  // ego proposals with features (fusion queries)
};

// One peer's contribution, already decoded and validated by comm (never a corrupt message here).
struct PeerInput {
  SparseFeatures msg;                     // cells + anchors in the peer's LiDAR frame, its believed pose
  std::optional<PointCloud> points;       // early fusion only: the peer's raw points in its LiDAR frame
  TimestampNs age_ns = 0;                 // ego stamp − peer stamp (≥ 0)
  bool is_rsu = false;
};

// Counters a fuser fills per call (added to FrameStats).
struct FusionStats {
  int peers_used = 0;
  int peers_dropped_stale = 0;      // older than the configured limit
  int peers_dropped_grid = 0;       // message for another grid / channel count
  int peers_down_weighted = 0;      // pose inconsistent with the ego's view (e.g. 20 m off)
};

class Fuser {
 public:
  virtual ~Fuser() = default;
  virtual FusionMethod method() const = 0;
  // Fused detections in the ego LiDAR frame (after NMS). Never throws on peer content.
  virtual DetectionList fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) = 0;
};

}  // namespace v2x::fusion

template <>
struct v2x::EnumNames<v2x::fusion::FusionMethod> {
  static constexpr std::array<std::string_view, 6> names{"none", "late", "early", "max", "attn", "anchor"};
};
