#include "v2x/comm/points_codec.hpp"

#include <lz4.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace v2x::comm {

namespace {
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kFlagLz4 = 1;

template <class T>
void put(std::vector<std::uint8_t>& out, T v) {  // little-endian hosts only (static_assert below)
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}
template <class T>
T get(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
static_assert(std::endian::native == std::endian::little, "points codec assumes a little-endian host");
}  // namespace

std::vector<std::uint8_t> encode_points(const PointCloud& cloud, const PointsEncodeOptions& opt,
                                        PointsEncodeStats* stats) {
  PointsEncodeStats st;
  st.points_in = cloud.size();
  const double res = opt.resolution_m > 0 ? opt.resolution_m : 0.01;
  const double lim = 32767.0 * res;
  std::vector<std::int16_t> x, y, z;
  std::vector<std::uint8_t> in;
  x.reserve(cloud.size()), y.reserve(cloud.size()), z.reserve(cloud.size()), in.reserve(cloud.size());
  for (std::size_t i = 0; i < cloud.size(); ++i) {
    const double px = cloud.x[i], py = cloud.y[i], pz = cloud.z[i];
    if (!std::isfinite(px) || !std::isfinite(py) || !std::isfinite(pz)) {
      ++st.dropped_invalid;
      continue;
    }
    if (std::abs(px) > lim || std::abs(py) > lim || std::abs(pz) > lim) {
      ++st.dropped_range;
      continue;
    }
    x.push_back(static_cast<std::int16_t>(std::lround(px / res)));
    y.push_back(static_cast<std::int16_t>(std::lround(py / res)));
    z.push_back(static_cast<std::int16_t>(std::lround(pz / res)));
    float it = i < cloud.intensity.size() ? cloud.intensity[i] : 0.f;
    if (!std::isfinite(it)) it = 0.f;
    in.push_back(static_cast<std::uint8_t>(std::lround(255.0 * std::clamp(it, 0.f, 1.f))));
  }
  const std::size_t n = x.size();
  st.points_sent = n;
  std::vector<std::uint8_t> body(7 * n);
  if (n > 0) {  // memcpy from an empty vector's null data() is undefined even for 0 bytes
    std::memcpy(body.data(), x.data(), 2 * n);
    std::memcpy(body.data() + 2 * n, y.data(), 2 * n);
    std::memcpy(body.data() + 4 * n, z.data(), 2 * n);
    std::memcpy(body.data() + 6 * n, in.data(), n);
  }

  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> packed;
  bool lz4 = false;
  if (opt.compress && !body.empty() && body.size() <= static_cast<std::size_t>(LZ4_MAX_INPUT_SIZE)) {
    packed.resize(static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(body.size()))));
    const int c = LZ4_compress_default(reinterpret_cast<const char*>(body.data()), reinterpret_cast<char*>(packed.data()),
                                       static_cast<int>(body.size()), static_cast<int>(packed.size()));
    if (c > 0 && static_cast<std::size_t>(c) < body.size()) {
      packed.resize(static_cast<std::size_t>(c));
      lz4 = true;
    }
  }
  out.reserve(kPointsHeaderBytes + (lz4 ? packed.size() : body.size()));
  out.insert(out.end(), {'V', '2', 'X', 'P'});
  put<std::uint8_t>(out, kVersion);
  put<std::uint8_t>(out, lz4 ? kFlagLz4 : 0);
  put<std::uint16_t>(out, 0);
  put<float>(out, static_cast<float>(res));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(n));
  put<std::uint32_t>(out, static_cast<std::uint32_t>(body.size()));
  const auto& b = lz4 ? packed : body;
  out.insert(out.end(), b.begin(), b.end());
  st.raw_bytes = kPointsHeaderBytes + body.size();
  st.bytes = out.size();
  if (stats) *stats = st;
  return out;
}

Expected<PointCloud> decode_points(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kPointsHeaderBytes) return make_error(ErrorCode::Truncated, "points payload shorter than its header");
  if (std::memcmp(bytes.data(), "V2XP", 4) != 0) return make_error(ErrorCode::Corrupt, "points payload: bad magic");
  if (bytes[4] != kVersion) return make_error(ErrorCode::WrongVersion, "points payload: unknown version");
  const std::uint8_t flags = bytes[5];
  if ((flags & ~kFlagLz4) != 0) return make_error(ErrorCode::Corrupt, "points payload: unknown flags");
  const float res = get<float>(bytes.data() + 8);
  const std::uint32_t n = get<std::uint32_t>(bytes.data() + 12);
  const std::uint32_t body_bytes = get<std::uint32_t>(bytes.data() + 16);
  if (!(std::isfinite(res) && res > 0)) return make_error(ErrorCode::Corrupt, "points payload: bad resolution");
  if (static_cast<std::uint64_t>(body_bytes) != 7ull * n)
    return make_error(ErrorCode::Corrupt, "points payload: body size does not match the point count");
  if (body_bytes > static_cast<std::uint32_t>(std::numeric_limits<int>::max()))
    return make_error(ErrorCode::Corrupt, "points payload: body too large");
  const auto payload = bytes.subspan(kPointsHeaderBytes);
  std::vector<std::uint8_t> body;
  const std::uint8_t* b = nullptr;
  if (flags & kFlagLz4) {
    if (payload.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      return make_error(ErrorCode::Corrupt, "points payload: compressed body too large");
    body.resize(body_bytes);
    const int d = LZ4_decompress_safe(reinterpret_cast<const char*>(payload.data()), reinterpret_cast<char*>(body.data()),
                                      static_cast<int>(payload.size()), static_cast<int>(body_bytes));
    if (d != static_cast<int>(body_bytes)) return make_error(ErrorCode::Corrupt, "points payload: lz4 body does not decode");
    b = body.data();
  } else {
    if (payload.size() < body_bytes) return make_error(ErrorCode::Truncated, "points payload: body truncated");
    if (payload.size() > body_bytes) return make_error(ErrorCode::Corrupt, "points payload: trailing bytes");
    b = payload.data();
  }
  PointCloud pc;
  pc.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const float px = static_cast<float>(get<std::int16_t>(b + 2 * i)) * res;
    const float py = static_cast<float>(get<std::int16_t>(b + 2 * (n + i))) * res;
    const float pz = static_cast<float>(get<std::int16_t>(b + 2 * (2 * n + i))) * res;
    const float it = static_cast<float>(b[6 * n + i]) / 255.f;
    pc.push_back(px, py, pz, it);
  }
  return pc;
}

}  // namespace v2x::comm
