// libFuzzer target for the wire-v1 decoder (scripts/fuzz.sh runs it with ASan + UBSan for a bounded time).
// Each input is decoded twice: as received (exercises framing, length and CRC checks) and with its CRC
// recomputed (so mutations reach the lz4 and body parsers behind the checksum). Decoded messages are fed to a
// Reassembler and re-encoded, which must succeed: whatever the decoder accepts is a valid SparseFeatures.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "v2x/comm/codec.hpp"
#include "v2x/comm/crc32c.hpp"

using namespace v2x::comm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Reassembler reassembler;
  const std::span<const std::uint8_t> in(data, size);
  auto a = decode_message(in);
  std::vector<std::uint8_t> fixed(data, data + size);
  if (fixed.size() >= 40) {
    const std::uint32_t crc = crc32c(std::span(fixed).first(fixed.size() - 4));
    for (int i = 0; i < 4; ++i) fixed[fixed.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  }
  auto b = decode_message(fixed);
  for (auto* m : {&a, &b}) {
    if (!m->has_value()) continue;
    auto re = encode(m->value().features);
    if (!re.has_value()) std::abort();  // the decoder accepted something the encoder calls invalid
    (void)reassembler.add(std::move(m->value()));
  }
  if (reassembler.pending() > 64) (void)reassembler.take(true);
  return 0;
}
