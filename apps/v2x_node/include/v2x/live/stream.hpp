#pragma once
// The live-node protocols (docs/nodes.md):
//  * frame stream, simulator driver (ROUTER, bound) ↔ node (DEALER, routing id "node<id>"), multipart:
//      node → driver  ["HELLO", json {"agent", "pid", "version": 1}]      repeated until WELCOME
//                     ["RESULT", detections json]                          one per processed frame
//                     ["BYE", json {"agent"}]                              clean shutdown
//      driver → node  ["WELCOME", json {"scenario", "channel": {...}|null}]
//                     ["FRAME", header json, body]                          one per tick
//                     ["STOP"]                                              flush and exit 0
//    FRAME header: {"frame": k, "scenario", "timestamp", "stamp_ns", "agent", "is_rsu", "speed_mps",
//                   "T_world_lidar": [16 row-major], "T_world_lidar_noisy": [16]|null, "points": n,
//                   "cameras": [{"name", "width", "height", "fx", "fy", "cx", "cy", "T_lidar_camera": [16]}, ...]}
//                   ("cameras" optional: the agent's rig renders images — camera-only and LiDAR+camera agents)
//    FRAME body: float32 little-endian x[n], y[n], z[n], intensity[n] (LiDAR frame), 16·n bytes, then each
//                camera's RGB image (row-major, interleaved, width·height·3 bytes) in header order; nothing else.
//  * detections message (topic "det" + 8 hex digits of the agent id on the node's detections PUB; also the
//    RESULT payload and one line of detections.jsonl): see DetectionsMessage.
// Every parser is bounded and returns nullopt / Error on bad input (never throws on content).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "v2x/core/detection.hpp"
#include "v2x/core/expected.hpp"
#include "v2x/core/frame.hpp"

namespace v2x::live {

inline constexpr std::size_t kMaxStreamPoints = 4u << 20;
inline constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
inline constexpr std::size_t kMaxStreamCameras = 16;
inline constexpr int kMaxStreamImageSide = 4096;

struct StreamFrame {
  std::int64_t frame = 0;
  std::string scenario, timestamp;
  AgentFrame agent;  // id, is_rsu, stamp, cloud, T_world_lidar, T_world_lidar_noisy, speed, cameras (RGB + calib)
};

std::string encode_frame_header(const StreamFrame& f);
// Cameras without an RGB image of width·height·3 bytes are left out (header and body alike).
std::vector<std::uint8_t> encode_frame_body(const AgentFrame& agent);
Expected<StreamFrame> decode_frame(const std::string& header, const void* body, std::size_t body_bytes);

// What a node reports per processed frame.
struct DetectionsMessage {
  AgentId agent = 0;
  std::int64_t frame = 0;
  std::string scenario, timestamp;
  TimestampNs stamp_ns = 0;
  std::int64_t wall_ns = 0;  // system clock when the detections were ready
  std::string fusion;
  std::vector<Detection> detections;        // ego LiDAR frame, after fusion + NMS
  std::vector<std::pair<std::string, double>> ms;  // stage → milliseconds (StageTimes order)
  std::int64_t bytes_sent = 0, datagrams_sent = 0, datagrams_received = 0;
  int peers_heard = 0, peers_used = 0;
  std::vector<AgentId> members;             // live peers (membership) after this tick
  std::vector<AgentId> heard_from;          // senders whose datagrams reached the runtime this tick
  std::map<std::string, std::int64_t> dropped;  // runtime drop reasons (this frame)
  std::map<std::string, std::int64_t> totals;   // cumulative counters: mesh + runtime + missed ticks
};

nlohmann::json to_json(const DetectionsMessage& m);
std::optional<DetectionsMessage> detections_from_json(const nlohmann::json& j);  // nullopt on malformed

std::string detections_topic(AgentId id);  // "det" + 8 lowercase hex digits

}  // namespace v2x::live

#include "v2x/comm/channel_model.hpp"

namespace v2x::live {
// The channel model travels in WELCOME as a JSON object with ChannelModelConfig's keys (enums by name).
nlohmann::json channel_to_json(comm::ChannelModelConfig c);
// Throws ConfigError (validated) or nlohmann::json::exception on a malformed object.
comm::ChannelModelConfig channel_from_json(const nlohmann::json& j);
}  // namespace v2x::live
