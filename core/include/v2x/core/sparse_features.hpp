#pragma once
// SparseFeatures: what one agent sends about one frame — a subset of the cells of its BEV feature map
// plus a few local anchors with feature vectors. Produced by selection/, carried by comm/ (wire format v1,
// docs/wire-format.md), consumed by fusion/. comm/ depends on this header, never on selection/.
//
// Also holds the size model of wire format v1 (`encoded_size_upper_bound`): selection/ budgets with it and
// comm/'s tests check that every encoded message is no larger than it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "v2x/core/box.hpp"
#include "v2x/core/config.hpp"
#include "v2x/core/grid.hpp"
#include "v2x/core/pose.hpp"
#include "v2x/core/types.hpp"

namespace v2x {

// How the feature values travel on the wire. Values are stored as float32 in SparseFeatures after decode.
enum class Quantization : std::uint8_t {
  Fp32 = 0,  // reference: exact
  Fp16 = 1,  // reference: IEEE half
  Int8 = 2,  // per-channel affine, 8 bits
  Int4 = 3,  // per-channel affine, 4 bits packed two per byte
};
template <>
struct EnumNames<Quantization> {
  static constexpr std::array<std::string_view, 4> names{"fp32", "fp16", "int8", "int4"};
};

// Sensor modalities that contributed to the features (bitmask).
enum ModalityBits : std::uint8_t { kModalityLidar = 1, kModalityCamera = 2 };

struct SparseAnchor {
  Box3D box;                   // sender's LiDAR frame
  float score = 0.f;           // detection confidence in [0, 1]
  std::vector<float> feature;  // (D,) float32; D is the same for every anchor of a message
};

struct SparseFeatures {
  AgentId sender = 0;
  TimestampNs stamp_ns = 0;
  std::uint32_t sequence = 0;
  Pose T_world_lidar = Pose::Identity();  // the sender's pose as the sender believes it (not ground truth)
  BevGrid grid;                           // grid of the sender's feature map (H = grid.height(), W = grid.width())
  int channels = 0;                       // C; 0 for an index-only message (an ego request mask)
  std::vector<std::uint32_t> cell_indices;  // strictly increasing, y * W + x, each < H * W
  std::vector<float> values;                // (num_cells, C) float32, row-major (cell-major)
  std::vector<SparseAnchor> anchors;
  std::uint8_t modality = kModalityLidar;   // ModalityBits
  Quantization quant = Quantization::Int8;  // how values were (or will be) sent

  std::size_t num_cells() const { return cell_indices.size(); }
  int anchor_dim() const { return anchors.empty() ? 0 : static_cast<int>(anchors.front().feature.size()); }
};

// ---- wire format v1 size model (layout in docs/wire-format.md; comm/src/codec.cpp static_asserts it) ----
namespace wire_v1 {
constexpr std::size_t kFrameHeaderBytes = 36;  // magic .. fragment_count (uncompressed, before the body)
constexpr std::size_t kCrcBytes = 4;
// Body, before the cell indices: pose (7 f64) + grid (5 f64) + H, W, C (u16) + modality, quant (u8)
// + num_cells (u32) + index_coding (u8) + index_bytes (u32).
constexpr std::size_t kBodyFixedBytes = 56 + 40 + 6 + 2 + 4 + 1 + 4;
constexpr std::size_t kAnchorCountBytes = 4;       // num_anchors (u16) + anchor_dim (u16)
constexpr std::size_t kAnchorBoxBytes = 8 * 4;     // x y z l w h yaw score, f32
constexpr std::size_t kChannelQuantBytes = 5;      // scale (f32) + zero_point (u8), INT8/INT4 only

constexpr std::size_t varint_bytes(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
// Bytes of `count` values of `dim` elements each, quantized with q (including per-element quant params).
constexpr std::size_t value_block_bytes(std::size_t count, std::size_t dim, Quantization q) {
  const std::size_t n = count * dim;
  switch (q) {
    case Quantization::Fp32: return 4 * n;
    case Quantization::Fp16: return 2 * n;
    case Quantization::Int8: return kChannelQuantBytes * dim + n;
    case Quantization::Int4: return kChannelQuantBytes * dim + (n + 1) / 2;
  }
  return 4 * n;
}
// Upper bound of the index coding: the encoder picks the smaller of delta+varint and a bitmap.
constexpr std::size_t index_bytes_upper_bound(std::size_t num_cells, std::int64_t grid_cells) {
  if (num_cells == 0 || grid_cells <= 0) return 0;
  const std::size_t bitmap = static_cast<std::size_t>((grid_cells + 7) / 8);
  const std::size_t varint = num_cells * varint_bytes(static_cast<std::uint64_t>(grid_cells - 1));
  return bitmap < varint ? bitmap : varint;
}
}  // namespace wire_v1

// Upper bound (bytes) of one wire-v1 message (one unfragmented message, or one fragment) carrying
// `num_cells` cells of `channels` values and `num_anchors` anchors of `anchor_dim` features on a grid of
// `grid_cells` = H * W cells. Exact except for the index coding (bounded) and lz4 (the encoder keeps the body
// uncompressed whenever lz4 would not make it smaller, so compression never increases the size).
constexpr std::size_t encoded_size_upper_bound(std::size_t num_cells, int channels, Quantization q,
                                               std::int64_t grid_cells, std::size_t num_anchors = 0,
                                               int anchor_dim = 0) {
  std::size_t s = wire_v1::kFrameHeaderBytes + wire_v1::kBodyFixedBytes + wire_v1::kCrcBytes;
  s += wire_v1::index_bytes_upper_bound(num_cells, grid_cells);
  if (channels > 0 && num_cells > 0) s += wire_v1::value_block_bytes(num_cells, static_cast<std::size_t>(channels), q);
  s += wire_v1::kAnchorCountBytes;
  if (num_anchors > 0) {
    s += num_anchors * wire_v1::kAnchorBoxBytes;
    if (anchor_dim > 0) s += wire_v1::value_block_bytes(num_anchors, static_cast<std::size_t>(anchor_dim), q);
  }
  return s;
}

}  // namespace v2x
