#pragma once
// Raw LiDAR points as an early-fusion payload (what a peer sends when the ego fuses points, not features).
//
// Layout (little-endian), version 1:
//   magic "V2XP" (4) | version u8 = 1 | flags u8 (bit 0: body is lz4-compressed) | reserved u16 = 0
//   resolution_m f32 | count u32 | body_bytes u32 (uncompressed body size = 7 · count) | body
// Body (structure of arrays, which lz4 compresses better than interleaved points):
//   x i16[count] | y i16[count] | z i16[count] | intensity u8[count]
// Coordinates are fixed-point: value = round(coord / resolution_m) (default 1 cm, so |coord| ≤ 327.67 m);
// points outside that range or with non-finite coordinates are dropped and counted. Intensity is clamped to
// [0, 1] and stored as round(255 · i). Per-point times are not sent.
// The encoder keeps the body uncompressed when lz4 would not make it smaller.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "v2x/core/expected.hpp"
#include "v2x/core/point_cloud.hpp"

namespace v2x::comm {

inline constexpr std::size_t kPointsHeaderBytes = 20;

struct PointsEncodeOptions {
  double resolution_m = 0.01;
  bool compress = true;
};

struct PointsEncodeStats {
  std::size_t points_in = 0;
  std::size_t points_sent = 0;
  std::size_t dropped_range = 0;     // beyond ±32767 · resolution
  std::size_t dropped_invalid = 0;   // non-finite
  std::size_t raw_bytes = 0;         // header + uncompressed body
  std::size_t bytes = 0;             // what goes on the wire
};

std::vector<std::uint8_t> encode_points(const PointCloud& cloud, const PointsEncodeOptions& opt = {},
                                        PointsEncodeStats* stats = nullptr);
// Never throws on bad bytes: Corrupt / Truncated / WrongVersion.
Expected<PointCloud> decode_points(std::span<const std::uint8_t> bytes);

}  // namespace v2x::comm
