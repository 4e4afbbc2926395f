#include <gtest/gtest.h>

#include <cmath>

#include "test_util.hpp"
#include "v2x/comm/crc32c.hpp"
#include "v2x/comm/quantize.hpp"

using namespace v2x;
using namespace v2x::comm;

TEST(Crc32c, MatchesTheStandardCheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(crc32c({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}), 0xE3069283u);
  EXPECT_EQ(crc32c({}), 0u);
}

TEST(Crc32c, ContinuesAcrossChunks) {
  std::vector<std::uint8_t> d(1000);
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>(i * 31 + 7);
  const std::uint32_t whole = crc32c(d);
  const std::uint32_t split = crc32c(std::span(d).subspan(333), crc32c(std::span(d).first(333)));
  EXPECT_EQ(whole, split);
  d[500] ^= 1;
  EXPECT_NE(crc32c(d), whole);
}

TEST(Half, RoundTripsRepresentableValuesAndRoundsToNearest) {
  for (float v : {0.f, -0.f, 1.f, -2.5f, 65504.f, 6.103515625e-05f, 5.960464477539063e-08f, 0.099975586f})
    EXPECT_EQ(half_to_float(float_to_half(v)), v) << v;
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(1e6f))));
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 1.0f / 4096)), 1.0f);  // tie → even
  for (float v = -100.f; v < 100.f; v += 0.37f)
    EXPECT_NEAR(half_to_float(float_to_half(v)), v, std::abs(v) * 1e-3 + 1e-7);
}

TEST(Quantize, ZeroIsExactAndErrorIsBelowHalfAStepInsideTheRange) {
  auto f = test::make_features(3, 200, 32);
  for (Quantization q : {Quantization::Int8, Quantization::Int4}) {
    auto v = f.values;
    const auto params = fit_channel_quant(v, 200, 32, q);
    fake_quantize(v, 200, 32, q);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const auto& p = params[i % 32];
      if (f.values[i] > p.scale * (quant_max(q) - p.zero_point)) continue;  // clipped (INT4 outlier)
      if (f.values[i] == 0.f) {
        EXPECT_EQ(v[i], 0.f);
      }
      EXPECT_LE(std::abs(v[i] - f.values[i]), params[i % 32].scale * 0.5f + 1e-6f);
    }
  }
}

// The targets: cosine of each sent cell's feature vector ≥ 0.999 (INT8) and ≥ 0.98 (INT4) on
// ReLU-like features with channel scales spread over 100×.
TEST(Quantize, CosineTargetsHoldOnRealisticFeatures) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    auto f = test::make_features(seed, 500, 64);
    for (auto [q, target] : {std::pair{Quantization::Int8, 0.999}, std::pair{Quantization::Int4, 0.98},
                             std::pair{Quantization::Fp16, 0.99999}}) {
      auto v = f.values;
      fake_quantize(v, 500, 64, q);
      double worst = 1.0;
      for (std::size_t c = 0; c < 500; ++c)
        worst = std::min(worst, cosine_similarity(std::span(f.values).subspan(c * 64, 64), std::span(v).subspan(c * 64, 64)));
      EXPECT_GE(worst, target) << enum_name(q) << " seed " << seed;
    }
  }
}

TEST(Quantize, ConstantAndNonFiniteChannelsStayFinite) {
  std::vector<float> v = {0.f, 0.f, std::nanf(""), 3.f, 0.f, INFINITY};
  const auto p = fit_channel_quant(v, 3, 2, Quantization::Int8);
  for (const auto& c : p) EXPECT_TRUE(std::isfinite(c.scale) && c.scale > 0);
  fake_quantize(v, 3, 2, Quantization::Int8);
  for (float x : {v[0], v[1], v[2], v[3], v[4]}) EXPECT_TRUE(std::isfinite(x));
}
