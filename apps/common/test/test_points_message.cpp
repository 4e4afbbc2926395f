#include <gtest/gtest.h>

#include <cmath>

#include "v2x/apps/points_message.hpp"
#include "v2x/core/rng.hpp"

using namespace v2x;
using namespace v2x::apps;

namespace {
PointsMessage make_message(int n, std::uint64_t seed = 1) {
  PointsMessage m;
  m.sender = -3;
  m.stamp_ns = 123456789012;
  m.sequence = 42;
  m.T_world_lidar = planar_pose(10.5, -3.25, 1.9, 0.7);
  Rng rng(seed);
  for (int i = 0; i < n; ++i)
    m.cloud.push_back(static_cast<float>(rng.uniform(-100, 100)), static_cast<float>(rng.uniform(-100, 100)),
                      static_cast<float>(rng.uniform(-3, 2)), static_cast<float>(rng.uniform()));
  return m;
}
}  // namespace

TEST(PointsMessage, RoundTripsWithinOneCentimetre) {
  const PointsMessage m = make_message(2000);
  auto enc = encode_points_message(m);
  ASSERT_TRUE(enc.has_value());
  ASSERT_EQ(enc->size(), 1u);
  EXPECT_TRUE(is_points_message(enc->front()));
  auto dec = decode_points_message(enc->front());
  ASSERT_TRUE(dec.has_value()) << dec.error().message;
  EXPECT_EQ(dec->sender, m.sender);
  EXPECT_EQ(dec->stamp_ns, m.stamp_ns);
  EXPECT_EQ(dec->sequence, m.sequence);
  EXPECT_TRUE(dec->T_world_lidar.isApprox(m.T_world_lidar, 1e-12));
  ASSERT_EQ(dec->cloud.size(), m.cloud.size());
  for (std::size_t i = 0; i < m.cloud.size(); ++i) {
    EXPECT_NEAR(dec->cloud.x[i], m.cloud.x[i], 0.0051);
    EXPECT_NEAR(dec->cloud.z[i], m.cloud.z[i], 0.0051);
    EXPECT_NEAR(dec->cloud.intensity[i], m.cloud.intensity[i], 0.5 / 255 + 1e-6);
  }
}

TEST(PointsMessage, FragmentsFitTheMtuAndCarryEveryPoint) {
  const PointsMessage m = make_message(5000);
  auto enc = encode_points_message(m, 1398);
  ASSERT_TRUE(enc.has_value());
  EXPECT_GT(enc->size(), 20u);
  std::size_t points = 0;
  for (std::size_t i = 0; i < enc->size(); ++i) {
    EXPECT_LE((*enc)[i].size(), 1398u);
    auto d = decode_points_message((*enc)[i]);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->fragment_index, i);
    EXPECT_EQ(d->fragment_count, enc->size());
    points += d->cloud.size();
  }
  EXPECT_EQ(points, 5000u);
  EXPECT_FALSE(encode_points_message(m, 100).has_value());
}

TEST(PointsMessage, DropsUnsendablePointsAndEncodesEmptyClouds) {
  PointsMessage m = make_message(3);
  m.cloud.push_back(NAN, 0, 0, 0);
  m.cloud.push_back(500.f, 0, 0, 0);
  auto d = decode_points_message(encode_points_message(m).value().front());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->cloud.size(), 3u);
  auto e = decode_points_message(encode_points_message(make_message(0)).value().front());
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->cloud.empty());
}

TEST(PointsMessage, RejectsEveryTruncationAndBitFlip) {
  const comm::Bytes b = encode_points_message(make_message(300)).value().front();
  for (std::size_t n = 0; n < b.size(); n += 7)
    EXPECT_FALSE(decode_points_message(std::span<const std::uint8_t>(b.data(), n)).has_value()) << n;
  Rng rng(3);
  for (int k = 0; k < 200; ++k) {
    comm::Bytes c = b;
    c[rng.uniform_int(0, static_cast<int>(c.size()) - 1)] ^= static_cast<std::uint8_t>(1 + rng.uniform_int(0, 254));
    EXPECT_FALSE(decode_points_message(c).has_value());
  }
}
