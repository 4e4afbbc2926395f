#pragma once
// NodeRuntime: one agent's frame, sensor to detection (ARCHITECTURE.md "One frame, sensor to detection"), driven
// by every binary: v2x_replay runs one NodeRuntime per agent in one thread over an in-process / channel-model
// transport, v2x_node runs one per process over ZeroMQ, v2x_sim over the channel model.
//
// The tick is split so that one thread can run every agent of a replayed frame:
//   produce(frame)   encode (Perception) → local detection → select under the byte budget → quantize + pack
//                    (+ MTU fragments) → send.  Bytes are counted where sent (what the transport accepted).
//   consume(deadline) poll until deadline → decode each datagram (Expected: corrupt / stale / future /
//                    unauthenticated / wrong grid are dropped and counted by reason, never thrown) → per-peer
//                    cell cache → fuse (Fuser) → FrameResult {DetectionList in the ego LiDAR frame, FrameStats}.
//   tick(frame, deadline) = produce + consume (live nodes).
//
// What a node sends depends on its fusion method (the receiver must run the same method):
//   none    nothing (no message)
//   late    its detections (boxes + scores, no feature vectors) as anchors, under the byte budget
//   early   its raw points (points message, points_message.hpp), subsampled to comm.max_points
//   max     BEV cells chosen by the selector (no anchors)
//   attn    BEV cells chosen by the selector (no anchors)
//   anchor  BEV cells chosen by the selector + proposals with feature vectors (the selector's anchor share)
//
// This library is torch-free (the ASan build tests it with a fake Perception); the learned detector is plugged
// in by v2x_runtime (apps/common/include/v2x/apps/runtime_factory.hpp).
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "v2x/apps/node_config.hpp"
#include "v2x/apps/points_message.hpp"
#include "v2x/comm/codec.hpp"
#include "v2x/comm/transport.hpp"
#include "v2x/core/detection.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/frame.hpp"
#include "v2x/core/sensor_set.hpp"
#include "v2x/fusion/fuser.hpp"
#include "v2x/selection/peer_cell_cache.hpp"
#include "v2x/selection/selector.hpp"

namespace v2x::apps {

// An agent's own perception of one frame.
struct LocalPerception {
  FeatureMap features;                  // (C, H, W) float32 + confidence (H, W) in [0, 1]
  DetectionList detections;             // after NMS, the agent's LiDAR frame
  std::vector<SparseAnchor> proposals;  // fusion queries: boxes + scores + feature vectors (D,)
  double encode_ms = 0.0;               // pillarize + network (+ cameras) (measured by the implementation)
  double detect_ms = 0.0;               // decode + NMS of the local head
  std::uint8_t modality = 0;            // ModalityBits of the sensors that produced `features` (0: none did)
};

// Agent frame (cloud and/or cameras, as `sensors` selects) → BEV features + local detections. One instance may
// serve every agent of a replay (one model in memory); not required to be thread-safe. Never throws on sensor
// content: an empty / all-NaN cloud or unusable images yield a zero map and no detections.
class Perception {
 public:
  virtual ~Perception() = default;
  // frame.id / stamp are not trusted: `agent` and frame.stamp_ns label the outputs.
  virtual LocalPerception perceive(const AgentFrame& frame, AgentId agent, SensorSet sensors) = 0;
  virtual BevGrid feature_grid() const = 0;  // grid of the FeatureMap (every message must use it)
  virtual int channels() const = 0;          // C of the FeatureMap
};

// What an agent without a usable sensor perceives: a zero (C, H, W) map on `grid` with zero confidence, no
// detections, modality 0.
LocalPerception empty_perception(const BevGrid& grid, int channels, AgentId agent, TimestampNs stamp_ns);

// Per-stage wall-clock milliseconds of one frame.
struct StageTimes {
  double encode = 0, select = 0, pack = 0, transport = 0, decode = 0, fuse = 0, detect = 0, total = 0;
  // Stage names in report order, and access by index (same order).
  static constexpr std::array<const char*, 8> kNames{"encode", "select", "pack", "transport",
                                                     "decode", "fuse", "detect", "total"};
  double& at(std::size_t i);
  double at(std::size_t i) const;
};

// Messages (or datagrams) dropped by the receiver, by reason.
struct DropCounts {
  int corrupt = 0;          // does not decode (truncated, bad CRC, wrong version, out of range, malformed)
  int stale = 0;            // older than comm.max_message_age_ms at the ego's frame stamp
  int future = 0;           // stamped more than comm.max_future_ms after the ego's frame stamp
  int unauthenticated = 0;  // sender not in allowed_peers, or replayed (sequence/stamp not newer than held)
  int grid = 0;             // cells for another grid or channel count than the ego's
  int own = 0;              // a message carrying the receiver's own id (echo)
  int fragment = 0;         // fragment inconsistent with others of its message (or duplicate)
  // Fuser's own checks (FusionStats): peers it dropped or down-weighted.
  int fuser_stale = 0, fuser_grid = 0, fuser_down_weighted = 0;
  int total_dropped() const { return corrupt + stale + future + unauthenticated + grid + own + fragment; }
  void add(const DropCounts& o);
};

struct FrameStats {
  StageTimes ms;
  // Send side (produce): one message per frame, possibly in several datagrams.
  bool sent = false;
  std::size_t bytes_sent = 0;      // on the wire (after quantization + compression), all datagrams of the message
  std::size_t datagrams_sent = 0;
  std::size_t cells_sent = 0, anchors_sent = 0, points_sent = 0;
  std::size_t budget_bytes_bound = 0;  // the selector's size bound for the message (≥ a single message's bytes)
  // Receive side (consume).
  int datagrams_received = 0;
  int peers_heard = 0;   // peers with at least one accepted message this frame
  int peers_used = 0;    // peers the fuser used (FusionStats)
  DropCounts dropped;
};

struct FrameResult {
  DetectionList detections;  // ego LiDAR frame, after fusion and NMS
  FrameStats stats;
};

class NodeRuntime {
 public:
  // `perception` may be shared by several runtimes. `fuser` may be null for an agent that only sends (a replay
  // peer): consume() then throws std::logic_error. Throws ConfigError for an invalid config.
  NodeRuntime(NodeConfig cfg, std::unique_ptr<comm::Transport> transport, std::shared_ptr<Perception> perception,
              std::unique_ptr<fusion::Fuser> fuser);
  ~NodeRuntime();
  NodeRuntime(const NodeRuntime&) = delete;
  NodeRuntime& operator=(const NodeRuntime&) = delete;

  // Perceives `frame` (its cloud, in its LiDAR frame) with the pose the agent believes (T_world_lidar_believed;
  // frame.T_world_lidar is ground truth and is not used), selects and sends this frame's message.
  // Returns the send-side stats (also carried into the next consume()'s FrameResult).
  const FrameStats& produce(const AgentFrame& frame, const Pose& T_world_lidar_believed);
  const FrameStats& produce(const AgentFrame& frame) {
    return produce(frame, frame.T_world_lidar_noisy.value_or(frame.T_world_lidar));
  }
  // Receives until deadline_ns (transport clock), decodes, caches and fuses with the last produced frame.
  FrameResult consume(TimestampNs deadline_ns);
  // produce + consume.
  FrameResult tick(const AgentFrame& frame, TimestampNs deadline_ns);
  // Receives and discards everything waiting (replay peers that do not fuse); returns datagrams discarded.
  std::size_t discard_incoming(TimestampNs deadline_ns);
  // Forgets temporal state (selector history, peer caches, replay window): a new scenario.
  void reset();

  AgentId id() const { return cfg_.agent_id; }
  const NodeConfig& config() const { return cfg_; }
  comm::Transport& transport() { return *transport_; }
  // The last produced frame's own perception (empty before the first produce()).
  const LocalPerception& local() const { return local_; }

 private:
  struct PeerState {
    TimestampNs last_stamp_ns = -1;
    std::uint32_t last_sequence = 0;
    bool have = false;
  };
  // Accepted message of one peer this frame.
  struct Received {
    SparseFeatures msg;
    std::optional<PointCloud> points;
  };
  void send_message(FrameStats& st);
  // Checks a decoded message's header against the ego's frame; counts and returns false when it is dropped.
  bool accept(AgentId sender, TimestampNs stamp_ns, std::uint32_t sequence, DropCounts& drops, bool commit);

  NodeConfig cfg_;
  std::unique_ptr<comm::Transport> transport_;
  std::shared_ptr<Perception> perception_;
  std::unique_ptr<fusion::Fuser> fuser_;
  std::unique_ptr<selection::Selector> selector_;
  selection::PeerCellCache cache_;
  std::map<AgentId, PeerState> peers_;

  bool have_frame_ = false;
  AgentFrame frame_meta_;  // id, stamp, is_rsu of the last produced frame (cloud moved in only for early fusion)
  const PointCloud* cloud_ = nullptr;  // the last produced frame's cloud (owned by the caller until consume())
  Pose T_world_lidar_believed_ = Pose::Identity();
  LocalPerception local_;
  FrameStats send_stats_;
  std::uint32_t sequence_ = 0;
};

// Maps a decode error to the drop reason it is counted under.
void count_decode_error(const Error& e, DropCounts& drops);

}  // namespace v2x::apps
