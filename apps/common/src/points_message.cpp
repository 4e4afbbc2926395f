#include "v2x/apps/points_message.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include <Eigen/Geometry>

#include "v2x/comm/crc32c.hpp"

namespace v2x::apps {
namespace {

constexpr std::uint8_t kMagic[4] = {'V', '2', 'X', 'R'};
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kPointPayloadBytes = 7;  // comm points payload: 3 × i16 + u8 per point, uncompressed

void put(comm::Bytes& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
std::uint64_t get(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

PointCloud slice(const PointCloud& c, std::size_t b, std::size_t e) {
  PointCloud out;
  out.reserve(e - b);
  for (std::size_t i = b; i < e; ++i) out.push_back(c.x[i], c.y[i], c.z[i], i < c.intensity.size() ? c.intensity[i] : 0.f);
  return out;
}

}  // namespace

bool is_points_message(std::span<const std::uint8_t> b) { return b.size() >= 4 && std::memcmp(b.data(), kMagic, 4) == 0; }

Expected<std::vector<comm::Bytes>> encode_points_message(const PointsMessage& m, std::size_t mtu_bytes, bool lz4,
                                                         comm::PointsEncodeStats* stats) {
  // Only points the payload codec carries (so that fragment sizes are exact): finite, within ±327.67 m.
  PointCloud pts;
  std::size_t dropped_invalid = 0, dropped_range = 0;
  pts.reserve(m.cloud.size());
  constexpr float lim = 32767.f * 0.01f;
  for (std::size_t i = 0; i < m.cloud.size(); ++i) {
    const float x = m.cloud.x[i], y = m.cloud.y[i], z = m.cloud.z[i];
    if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(z)) ++dropped_invalid;
    else if (std::fabs(x) > lim || std::fabs(y) > lim || std::fabs(z) > lim) ++dropped_range;
    else pts.push_back(x, y, z, i < m.cloud.intensity.size() ? m.cloud.intensity[i] : 0.f);
  }
  std::size_t per = std::max<std::size_t>(pts.size(), 1);
  if (mtu_bytes > 0) {
    const std::size_t fixed = kPointsEnvelopeHeaderBytes + kPointsEnvelopeCrcBytes + comm::kPointsHeaderBytes;
    if (mtu_bytes < fixed + kPointPayloadBytes)
      return make_error(ErrorCode::OutOfRange, "points message: MTU " + std::to_string(mtu_bytes) + " holds no point");
    // Sized on the uncompressed payload: lz4 is kept only when smaller, so every fragment fits.
    per = (mtu_bytes - fixed) / kPointPayloadBytes;
  }
  const std::size_t count = pts.empty() ? 1 : (pts.size() + per - 1) / per;
  if (count > 65535) return make_error(ErrorCode::OutOfRange, "points message: more than 65535 fragments");
  comm::PointsEncodeOptions opt;
  opt.compress = lz4;
  std::vector<comm::Bytes> out;
  out.reserve(count);
  const Eigen::Vector3d t = m.T_world_lidar.translation();
  const Eigen::Quaterniond q(m.T_world_lidar.rotation());
  std::size_t bytes = 0;
  for (std::size_t f = 0; f < count; ++f) {
    const std::size_t b = f * per, e = std::min(pts.size(), b + per);
    const comm::Bytes payload = comm::encode_points(slice(pts, b, e), opt);
    comm::Bytes d;
    d.reserve(kPointsEnvelopeHeaderBytes + payload.size() + kPointsEnvelopeCrcBytes);
    d.insert(d.end(), kMagic, kMagic + 4);
    d.push_back(kVersion);
    d.push_back(0);
    put(d, f, 2);
    put(d, count, 2);
    put(d, static_cast<std::uint32_t>(m.sender), 4);
    put(d, m.sequence, 4);
    put(d, static_cast<std::uint64_t>(m.stamp_ns), 8);
    for (double v : {t.x(), t.y(), t.z(), q.w(), q.x(), q.y(), q.z()}) put(d, std::bit_cast<std::uint64_t>(v), 8);
    put(d, payload.size(), 4);
    d.insert(d.end(), payload.begin(), payload.end());
    put(d, comm::crc32c(d), 4);
    bytes += d.size();
    out.push_back(std::move(d));
  }
  if (stats) {
    stats->points_in = m.cloud.size();
    stats->points_sent = pts.size();
    stats->dropped_invalid = dropped_invalid;
    stats->dropped_range = dropped_range;
    stats->bytes = bytes;
  }
  return out;
}

Expected<PointsMessage> decode_points_message(std::span<const std::uint8_t> b) {
  constexpr std::size_t H = kPointsEnvelopeHeaderBytes;
  if (b.size() < H + kPointsEnvelopeCrcBytes)
    return make_error(ErrorCode::Truncated, "points message: " + std::to_string(b.size()) + " bytes, shorter than its header");
  if (!is_points_message(b)) return make_error(ErrorCode::Corrupt, "points message: bad magic");
  if (b[4] != kVersion) return make_error(ErrorCode::WrongVersion, "points message: version " + std::to_string(b[4]));
  const std::size_t crc_at = b.size() - kPointsEnvelopeCrcBytes;
  if (comm::crc32c(b.first(crc_at)) != static_cast<std::uint32_t>(get(b.data() + crc_at, 4)))
    return make_error(ErrorCode::BadChecksum, "points message: CRC-32C mismatch");
  if (b[5] != 0) return make_error(ErrorCode::Corrupt, "points message: unknown flags");
  PointsMessage m;
  const std::uint8_t* p = b.data() + 6;
  m.fragment_index = static_cast<std::uint16_t>(get(p, 2));
  m.fragment_count = static_cast<std::uint16_t>(get(p + 2, 2));
  m.sender = static_cast<AgentId>(static_cast<std::uint32_t>(get(p + 4, 4)));
  m.sequence = static_cast<std::uint32_t>(get(p + 8, 4));
  m.stamp_ns = static_cast<TimestampNs>(get(p + 12, 8));
  double v[7];
  for (int i = 0; i < 7; ++i) v[i] = std::bit_cast<double>(get(p + 20 + 8 * i, 8));
  const std::size_t payload_bytes = static_cast<std::size_t>(get(p + 76, 4));
  static_assert(6 + 80 == H);
  if (m.fragment_count == 0 || m.fragment_index >= m.fragment_count)
    return make_error(ErrorCode::OutOfRange, "points message: fragment index out of range");
  if (payload_bytes != crc_at - H)
    return make_error(ErrorCode::Truncated, "points message: payload length disagrees with the datagram size");
  for (double x : v)
    if (!std::isfinite(x)) return make_error(ErrorCode::Corrupt, "points message: non-finite pose");
  const Eigen::Quaterniond q(v[3], v[4], v[5], v[6]);
  if (std::fabs(q.norm() - 1.0) > 1e-6) return make_error(ErrorCode::Corrupt, "points message: pose quaternion not unit");
  m.T_world_lidar = Pose::Identity();
  m.T_world_lidar.linear() = q.normalized().toRotationMatrix();
  m.T_world_lidar.translation() = Eigen::Vector3d(v[0], v[1], v[2]);
  auto cloud = comm::decode_points(b.subspan(H, payload_bytes));
  if (!cloud) return cloud.error();
  m.cloud = std::move(cloud.value());
  return m;
}

}  // namespace v2x::apps
