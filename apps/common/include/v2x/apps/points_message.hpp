#pragma once
// Early-fusion message: a peer's raw LiDAR points with who sent them, when and from where. The points travel as
// comm's points payload (comm/points_codec.hpp: fixed-point SoA + lz4); this envelope adds what a receiver needs
// to use and trust them — sender, sequence, stamp, the sender's believed pose, MTU fragments and a CRC-32C over the
// whole datagram (the payload codec has no integrity check). Its magic ("V2XR") differs from wire v1's and from
// the bare payload's, so a receiver tells the message kinds apart from the first four bytes.
//
// Layout, little-endian (86-byte header, payload, CRC):
//   magic "V2XR" (4) | version u8 = 1 | flags u8 = 0 | fragment_index u16 | fragment_count u16 | sender i32 |
//   sequence u32 | stamp_ns i64 | pose: t (3 f64) + q (w, x, y, z: 4 f64) | payload_bytes u32 |
//   payload (comm::encode_points) | crc32c u32 (of everything before it)
// Each fragment is a complete message holding a contiguous run of the points; a lost fragment loses only its points.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "v2x/comm/codec.hpp"
#include "v2x/comm/points_codec.hpp"
#include "v2x/core/expected.hpp"
#include "v2x/core/point_cloud.hpp"
#include "v2x/core/pose.hpp"
#include "v2x/core/types.hpp"

namespace v2x::apps {

inline constexpr std::size_t kPointsEnvelopeHeaderBytes = 86;
inline constexpr std::size_t kPointsEnvelopeCrcBytes = 4;

struct PointsMessage {
  AgentId sender = 0;
  TimestampNs stamp_ns = 0;
  std::uint32_t sequence = 0;
  Pose T_world_lidar = Pose::Identity();  // the sender's pose as it believes it
  PointCloud cloud;                       // sender's LiDAR frame
  std::uint16_t fragment_index = 0;
  std::uint16_t fragment_count = 1;
};

// True when `bytes` starts with the envelope's magic.
bool is_points_message(std::span<const std::uint8_t> bytes);

// Encodes the message as one datagram (mtu_bytes == 0) or as fragments of at most mtu_bytes each. Points the
// payload codec cannot carry (non-finite, beyond its range) are dropped (stats->dropped_*). Fails with OutOfRange
// when mtu_bytes cannot hold one point or more than 65535 fragments would be needed.
Expected<std::vector<comm::Bytes>> encode_points_message(const PointsMessage& m, std::size_t mtu_bytes = 0,
                                                         bool lz4 = true, comm::PointsEncodeStats* stats = nullptr);

// Decodes one datagram; Truncated / WrongVersion / BadChecksum / OutOfRange / Corrupt on bad input, never throws.
Expected<PointsMessage> decode_points_message(std::span<const std::uint8_t> bytes);

}  // namespace v2x::apps
