#include <gtest/gtest.h>

#include <cmath>

#include "v2x/comm/points_codec.hpp"
#include "v2x/core/rng.hpp"

using namespace v2x;
using namespace v2x::comm;

namespace {
PointCloud random_cloud(std::size_t n, std::uint64_t seed) {
  Rng r(seed);
  PointCloud c;
  for (std::size_t i = 0; i < n; ++i)
    c.push_back(static_cast<float>(r.uniform(-120, 120)), static_cast<float>(r.uniform(-120, 120)),
                static_cast<float>(r.uniform(-3, 3)), static_cast<float>(r.uniform()));
  return c;
}
}  // namespace

TEST(PointsCodec, RoundTripWithinOneCentimetre) {
  const PointCloud c = random_cloud(20000, 1);
  PointsEncodeStats st;
  const auto bytes = encode_points(c, {}, &st);
  EXPECT_EQ(st.points_sent, c.size());
  EXPECT_EQ(st.bytes, bytes.size());
  EXPECT_LE(bytes.size(), kPointsHeaderBytes + 7 * c.size());
  const auto d = decode_points(bytes);
  ASSERT_TRUE(d.has_value()) << d.error().message;
  ASSERT_EQ(d->size(), c.size());
  for (std::size_t i = 0; i < c.size(); ++i) {
    ASSERT_LE(std::abs(d->x[i] - c.x[i]), 0.005f + 1e-5f);
    ASSERT_LE(std::abs(d->y[i] - c.y[i]), 0.005f + 1e-5f);
    ASSERT_LE(std::abs(d->z[i] - c.z[i]), 0.005f + 1e-5f);
    ASSERT_LE(std::abs(d->intensity[i] - c.intensity[i]), 0.5f / 255.f + 1e-6f);
  }
}

TEST(PointsCodec, StructuredCloudsCompress) {
  PointCloud c;  // a ring scan: neighbouring points are close, lz4 finds repeats in the high bytes
  for (int ring = 0; ring < 16; ++ring)
    for (int a = 0; a < 1800; ++a) {
      const double az = a * 2 * M_PI / 1800, r = 10 + ring;
      c.push_back(static_cast<float>(r * std::cos(az)), static_cast<float>(r * std::sin(az)), -1.7f, 0.25f);
    }
  PointsEncodeStats st;
  const auto bytes = encode_points(c, {}, &st);
  EXPECT_LT(st.bytes, st.raw_bytes);
  EXPECT_TRUE(decode_points(bytes).has_value());
}

TEST(PointsCodec, OutOfRangeAndNonFinitePointsAreDroppedAndCounted) {
  PointCloud c;
  c.push_back(1, 2, 3, 0.5f);
  c.push_back(400, 0, 0, 0.5f);
  c.push_back(std::nanf(""), 0, 0, 0.5f);
  c.push_back(-5, 4, 1, 7.f);  // intensity clamped to 1
  PointsEncodeStats st;
  const auto d = decode_points(encode_points(c, {}, &st));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(st.dropped_range, 1u);
  EXPECT_EQ(st.dropped_invalid, 1u);
  ASSERT_EQ(d->size(), 2u);
  EXPECT_FLOAT_EQ(d->intensity[1], 1.f);
}

TEST(PointsCodec, EmptyCloudRoundTrips) {
  const auto d = decode_points(encode_points(PointCloud{}));
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->empty());
}

TEST(PointsCodec, CorruptBytesAreErrorsNotCrashes) {
  const auto good = encode_points(random_cloud(500, 2));
  EXPECT_EQ(decode_points(std::span<const std::uint8_t>(good.data(), 10)).error().code, ErrorCode::Truncated);
  auto bad = good;
  bad[0] = 'X';
  EXPECT_EQ(decode_points(bad).error().code, ErrorCode::Corrupt);
  bad = good;
  bad[4] = 9;
  EXPECT_EQ(decode_points(bad).error().code, ErrorCode::WrongVersion);
  bad = good;
  bad[12] ^= 0x40;  // count no longer matches the body size
  EXPECT_FALSE(decode_points(bad).has_value());
  Rng r(3);
  for (int i = 0; i < 300; ++i) {  // random corruption of the compressed body
    auto b = good;
    b[kPointsHeaderBytes + r.uniform_int(0, static_cast<int>(b.size() - kPointsHeaderBytes - 1))] ^=
        static_cast<std::uint8_t>(1 + r.uniform_int(0, 254));
    const auto d = decode_points(b);
    if (d.has_value()) {
      EXPECT_EQ(d->size(), 500u);
    }
  }
  auto cut = good;
  cut.resize(cut.size() - 3);
  EXPECT_FALSE(decode_points(cut).has_value());
}
