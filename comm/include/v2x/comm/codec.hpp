#pragma once
// Wire format v1 (specified in docs/wire-format.md): SparseFeatures ↔ bytes.
// encode: quantize (per channel) → pack (indices as delta+varint or bitmap, whichever is smaller; INT4 two
// values per byte) → lz4 (kept only when smaller) → CRC-32C. decode: the reverse, rejecting anything malformed
// with an ErrorCode (Truncated, WrongVersion, BadChecksum, OutOfRange, Corrupt, Mismatch); it never reads out
// of bounds and allocates at most what the (bounded) lengths allow.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "v2x/core/expected.hpp"
#include "v2x/core/sparse_features.hpp"

namespace v2x::comm {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint8_t kWireVersion = 1;
constexpr std::uint8_t kFlagLz4 = 0x01;            // body is an lz4 block
constexpr std::uint8_t kKnownFlags = kFlagLz4;
// Limits (a decoder rejects anything beyond them with OutOfRange).
constexpr std::size_t kMaxBodyBytes = 4u << 20;                // body after lz4 decompression
constexpr std::size_t kMaxMessageBytes = kMaxBodyBytes + 64;   // whole message on the wire
constexpr std::uint32_t kMaxCells = 1u << 20;                  // cells per message
constexpr int kMaxChannels = 1024;
constexpr int kMaxGridSide = 4096;
constexpr int kMaxAnchors = 4096;
constexpr int kMaxAnchorDim = 1024;
constexpr std::size_t kDefaultMtuBytes = 1398;  // GeoNetworking SDU limit

struct EncodeOptions {
  bool lz4 = true;  // compress the body when that makes it smaller
  std::uint16_t fragment_index = 0;
  std::uint16_t fragment_count = 1;
};

struct DecodeOptions {
  bool verify_crc = true;  // false only in the fuzz target, to reach the body parser
  std::size_t max_message_bytes = kMaxMessageBytes;
};

struct DecodedMessage {
  SparseFeatures features;
  std::uint16_t fragment_index = 0;
  std::uint16_t fragment_count = 1;
  bool compressed = false;
};

// Encodes one message. Fails (Mismatch/OutOfRange) when `f` breaks its invariants: unsorted or out-of-grid
// indices, values.size() != num_cells * C, anchors of differing feature sizes, limits above exceeded.
// Values are quantized with f.quant; the result's size is ≤ encoded_size_upper_bound(...) of the same content.
Expected<Bytes> encode(const SparseFeatures& f, const EncodeOptions& opt = {});

Expected<DecodedMessage> decode_message(std::span<const std::uint8_t> bytes, const DecodeOptions& opt = {});
inline Expected<SparseFeatures> decode(std::span<const std::uint8_t> bytes, const DecodeOptions& opt = {}) {
  auto m = decode_message(bytes, opt);
  if (!m) return m.error();
  return std::move(m.value().features);
}

// Splits `f` into fragments of at most `mtu_bytes` each (every fragment is a complete wire-v1 message with the
// header fields, its own quantization parameters, a contiguous run of the cells and possibly anchors), so
// that each decodes on its own and a lost fragment loses only its cells/anchors. Fails with OutOfRange when
// one cell or one anchor alone does not fit the MTU, or more than 65535 fragments would be needed.
Expected<std::vector<Bytes>> encode_fragments(const SparseFeatures& f, std::size_t mtu_bytes = kDefaultMtuBytes,
                                              bool lz4 = true);

// Merges the decoded fragments of each (sender, sequence) that arrived.
class Reassembler {
 public:
  struct Result {
    SparseFeatures features;  // cells (sorted) and anchors of the fragments that arrived
    int fragments_received = 0;
    int fragment_count = 0;
    bool complete() const { return fragments_received == fragment_count; }
  };

  // Adds a decoded fragment. Returns Mismatch when it disagrees with fragments already held for the same
  // (sender, sequence) (grid, channels, quantization, fragment_count), and Corrupt for a duplicate fragment.
  Expected<bool> add(DecodedMessage m);
  // Removes and returns every complete message, and (when `include_incomplete`) every partial one too.
  std::vector<Result> take(bool include_incomplete);
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    std::vector<std::optional<SparseFeatures>> parts;
    int received = 0;
  };
  std::map<std::pair<AgentId, std::uint32_t>, Pending> pending_;
};

}  // namespace v2x::comm
