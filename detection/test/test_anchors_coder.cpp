#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "v2x/core/pose.hpp"
#include "v2x/detection/anchors.hpp"
#include "v2x/detection/box_coder.hpp"

using namespace v2x;
using namespace v2x::detection;

namespace {
double angle_diff(double a, double b) { return std::abs(wrap_angle(a - b)); }
}  // namespace

TEST(Anchors, DefaultIsOpenCoodOpv2vGrid) {
  AnchorConfig cfg;
  EXPECT_EQ(cfg.width(), 352);
  EXPECT_EQ(cfg.height(), 100);
  EXPECT_EQ(cfg.anchors_per_cell(), 2);
  const AnchorGrid g = generate_anchors(cfg);
  EXPECT_EQ(g.size(), 70400);
  EXPECT_EQ(g.boxes.size(), 70400u * 7);
  // First anchor: OpenCOOD linspace(x_min + vw, ...) with vw = 0.4.
  EXPECT_FLOAT_EQ(g.boxes[0], -140.4f);
  EXPECT_FLOAT_EQ(g.boxes[1], -39.6f);
  EXPECT_FLOAT_EQ(g.boxes[2], -1.0f);
  EXPECT_FLOAT_EQ(g.boxes[3], 3.9f);
  EXPECT_FLOAT_EQ(g.boxes[4], 1.6f);
  EXPECT_FLOAT_EQ(g.boxes[5], 1.56f);
}

TEST(Anchors, LayoutIsRowMajorHeightWidthAnchor) {
  AnchorConfig cfg;
  cfg.x_min_m = 0;
  cfg.x_max_m = 4;
  cfg.y_min_m = 0;
  cfg.y_max_m = 2;
  cfg.cell_m = 1;
  cfg.sizes = {AnchorSize{}, AnchorSize{10.0, 2.5, 3.0, -0.5}};
  const AnchorGrid g = generate_anchors(cfg);
  ASSERT_EQ(g.height, 2);
  ASSERT_EQ(g.width, 4);
  ASSERT_EQ(g.anchors_per_cell, 4);  // 2 sizes × 2 yaws
  // (iy=1, ix=2, a=3): size 1, yaw 90°.
  const std::int64_t i = (1 * 4 + 2) * 4 + 3;
  const float* b = g.box(i);
  EXPECT_FLOAT_EQ(b[0], 2.5f);
  EXPECT_FLOAT_EQ(b[1], 1.5f);
  EXPECT_FLOAT_EQ(b[2], -0.5f);
  EXPECT_FLOAT_EQ(b[3], 10.0f);
  EXPECT_NEAR(b[6], std::numbers::pi / 2, 1e-6);
  const AnchorIndex ai = unflatten_anchor(i, g.width, g.anchors_per_cell);
  EXPECT_EQ(ai.iy, 1);
  EXPECT_EQ(ai.ix, 2);
  EXPECT_EQ(ai.a, 3);
}

TEST(Anchors, InvalidConfigThrowsConfigError) {
  AnchorConfig cfg;
  cfg.x_max_m = cfg.x_min_m - 1;
  EXPECT_THROW(generate_anchors(cfg), ConfigError);
  AnchorConfig no_yaw;
  no_yaw.yaws_deg.clear();
  EXPECT_THROW(generate_anchors(no_yaw), ConfigError);
}

TEST(BoxCoder, EncodesResidualsLikeOpenCood) {
  const float a[7] = {10, -5, -1, 3.9f, 1.6f, 1.56f, 0};
  const float b[7] = {11, -3, -0.5f, 4.2f, 1.8f, 1.5f, 0.3f};
  float t[7];
  encode_box(a, b, t);
  const double d = std::sqrt(3.9 * 3.9 + 1.6 * 1.6);
  EXPECT_NEAR(t[0], 1.0 / d, 1e-6);
  EXPECT_NEAR(t[1], 2.0 / d, 1e-6);
  EXPECT_NEAR(t[2], 0.5 / 1.56, 1e-6);
  EXPECT_NEAR(t[3], std::log(4.2 / 3.9), 1e-6);
  EXPECT_NEAR(t[4], std::log(1.8 / 1.6), 1e-6);
  EXPECT_NEAR(t[5], std::log(1.5 / 1.56), 1e-6);
  EXPECT_NEAR(t[6], 0.3, 1e-6);
}

TEST(BoxCoder, DirectionBinsSplitTheCircleAtOffset) {
  const BoxCoderConfig c;  // offset pi/4, 2 bins
  const double pi = std::numbers::pi;
  EXPECT_EQ(direction_target(0.0, c), 1);  // 0 - pi/4 → 7pi/4
  EXPECT_EQ(direction_target(pi / 2, c), 0);
  EXPECT_EQ(direction_target(pi, c), 0);
  EXPECT_EQ(direction_target(-pi / 2, c), 1);
  EXPECT_NEAR(apply_direction(0.1, 1, c), 0.1, 1e-12);
  EXPECT_NEAR(angle_diff(apply_direction(0.1, 0, c), 0.1 + pi), 0.0, 1e-12);
}

TEST(BoxCoder, RoundTripRecoversBoxAndYawOverFullCircle) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1);
  const BoxCoderConfig c;
  const double pi = std::numbers::pi;
  for (int k = 0; k < 2000; ++k) {
    const float a[7] = {static_cast<float>(50 * u(rng)), static_cast<float>(20 * u(rng)), -1, 3.9f, 1.6f, 1.56f,
                        static_cast<float>(k % 2 ? pi / 2 : 0.0)};
    const float b[7] = {a[0] + static_cast<float>(u(rng)), a[1] + static_cast<float>(u(rng)),
                        static_cast<float>(-1 + 0.5 * u(rng)), static_cast<float>(4 + 2 * u(rng)),
                        static_cast<float>(1.8 + 0.3 * u(rng)), static_cast<float>(1.6 + 0.2 * u(rng)),
                        static_cast<float>(pi * u(rng))};
    float t[7], d[7];
    encode_box(a, b, t);
    decode_box(a, t, d);
    for (int j = 0; j < 6; ++j) EXPECT_NEAR(d[j], b[j], 1e-4) << "component " << j;
    const int bin = direction_target(b[6], c);
    EXPECT_LT(angle_diff(apply_direction(d[6], bin, c), b[6]), 1e-4);
    // A regressed yaw that is off by pi (sin-difference loss cannot tell) is fixed by the direction bin.
    float t_flip[7];
    std::copy(t, t + 7, t_flip);
    t_flip[6] += static_cast<float>(pi);
    decode_box(a, t_flip, d);
    EXPECT_LT(angle_diff(apply_direction(d[6], bin, c), b[6]), 1e-4);
  }
}
