#pragma once
// Bringing peers into the ego frame (step 7a of a frame), shared by every fuser.
//
// Pose: T_ego_peer = T_world_ego⁻¹ · T_world_peer, with T_world_peer the sender's believed pose carried in
// its message (at the sender's stamp) and T_world_ego the ego's own estimate at the ego's stamp.
// Latency: because each pose is taken at its own stamp, the transform already compensates the EGO's (and the
// sender's) motion during the message age: static scenery a peer saw lands where it is now in the ego frame.
// NOT compensated: motion of the OBJECTS during the age (a car at 15 m/s moves 1.5 m in 100 ms); messages
// carry no velocities. The anchor fusion gets the age as an input and learns to widen its attention.
//
// Checks, in order (each failing peer is dropped and counted once in FusionStats):
//   stale  — age > max_age_ms (or negative age: a message from the future is a clock error, treated as stale);
//   grid   — the message's grid differs from the ego map's grid, or it carries cells/anchors of another
//            channel count than the ego map (peers_dropped_grid);
//   pose   — the peer's confident anchors disagree with the ego's confident detections where both should see the
//            same objects (check_pose_consistency; peers_down_weighted).
#include <cstdint>
#include <vector>

#include "v2x/core/detection.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/pose.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/core/sparse_features.hpp"
#include "v2x/fusion/config.hpp"
#include "v2x/fusion/fuser.hpp"

namespace v2x::fusion {

// Agent kinds as the anchor fusion encodes them.
enum AgentKind : std::int64_t { kAgentEgo = 0, kAgentVehicle = 1, kAgentRsu = 2 };

// T_ego_peer = T_world_ego⁻¹ · T_world_peer.
Pose relative_pose(const Pose& T_world_ego, const Pose& T_world_peer);

// Anchors (boxes in the sender's frame) expressed in the ego frame; scores and features unchanged.
std::vector<SparseAnchor> anchors_to_ego(const std::vector<SparseAnchor>& anchors, const Pose& T_ego_peer);

struct PoseCheck {
  int expected = 0;  // confident objects of either side inside the shared region
  int agreed = 0;    // of those, how many have a partner from the other side within the match distance
  bool consistent = true;
};
// Compares peer anchors (already in the ego frame, believed pose) with the ego's detections inside the region
// within check_range_m of both agents (the peer's position = T_ego_peer's translation). Match tolerance grows
// with the age (objects move): check_match_dist_m + age_s * check_speed_mps.
PoseCheck check_pose_consistency(const std::vector<Detection>& ego_detections,
                                 const std::vector<SparseAnchor>& peer_anchors_ego, const Pose& T_ego_peer,
                                 double age_s, const AlignmentConfig& cfg);

// A peer that passed the checks.
struct AlignedPeer {
  const PeerInput* input = nullptr;
  Pose T_ego_peer = Pose::Identity();
  double age_s = 0;
  double distance_m = 0;                 // ‖peer position‖ in the ego frame
  std::int64_t kind = kAgentVehicle;     // kAgentVehicle / kAgentRsu
  std::vector<SparseAnchor> anchors_ego; // the message's anchors in the ego frame
};

// What a fuser needs peers to match. grid/channels are checked only when check_grid is true.
struct PeerRequirements {
  bool check_grid = false;
  BevGrid grid;
  int channels = 0;
};
PeerRequirements requirements_from(const EgoInput& ego);

// Runs the checks above in input order and returns the usable peers, sorted by distance (closest first).
// Counts every drop in `stats` (may be null) and sets stats->peers_used.
std::vector<AlignedPeer> align_peers(const EgoInput& ego, const std::vector<PeerInput>& peers,
                                     const AlignmentConfig& cfg, const PeerRequirements& req, FusionStats* stats);

// ---- dense resampling of received cells into the ego grid ------------------------------------------------

// Flat lookup of a message's cells: cell index → row of values, or -1 when the cell was not received.
class PeerCellIndex {
 public:
  explicit PeerCellIndex(const SparseFeatures& msg);
  // Values (C,) of the received cell containing (x, y) (peer frame, metres), or nullptr.
  const float* at(double x_m, double y_m) const;
  // Values of cell (ix, iy), or nullptr when not received / outside.
  const float* cell(int ix, int iy) const;
  int channels() const { return channels_; }
  const BevGrid& grid() const { return grid_; }

 private:
  BevGrid grid_;
  int w_ = 0, h_ = 0, channels_ = 0;
  std::vector<std::int32_t> row_;  // (Hp, Wp)
  const float* values_ = nullptr;
};

struct WarpedMap {
  int channels = 0, height = 0, width = 0;
  std::vector<float> data;         // (C, H, W) float32, 0 where mask == 0
  std::vector<std::uint8_t> mask;  // (H, W), 1 where a received cell maps
};
// Resamples the message's cells onto ego_grid through T_ego_peer: every ego cell centre is mapped into the
// peer frame and looked up (nearest cell, or bilinear over the received neighbours with renormalised weights).
WarpedMap warp_cells_to_ego(const SparseFeatures& msg, const Pose& T_ego_peer, const BevGrid& ego_grid,
                            WarpMode mode);

// ---- evaluation-time perturbation ------------------------------------------------------------------------

// The true pose ⊕ N(0, σ) on x, y and yaw (z, roll, pitch unchanged), drawn from rng.
Pose perturb_pose(const Pose& T_world_lidar, double position_sigma_m, double yaw_sigma_deg, Rng& rng);

}  // namespace v2x::fusion
