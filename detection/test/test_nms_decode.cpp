#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "v2x/core/pose.hpp"
#include "v2x/detection/decoder.hpp"
#include "v2x/detection/nms.hpp"

using namespace v2x;
using namespace v2x::detection;

namespace {
Box3D make_box(double x, double y, double l, double w, double yaw) {
  Box3D b;
  b.center = {x, y, -1.0};
  b.l_m = l;
  b.w_m = w;
  b.h_m = 1.56;
  b.yaw_rad = yaw;
  return b;
}
}  // namespace

TEST(Nms, KeepsNonOverlappingBoxesInScoreOrder) {
  const std::vector<Box3D> boxes = {make_box(0, 0, 4, 2, 0), make_box(10, 0, 4, 2, 1), make_box(0, 10, 4, 2, 2)};
  const std::vector<float> scores = {0.5f, 0.9f, 0.7f};
  EXPECT_EQ(nms_rotated(boxes, scores, 0.15), (std::vector<int>{1, 2, 0}));
}

TEST(Nms, SuppressesOverlappingRotatedBoxes) {
  // Same centre, 90° apart: IoU = 1.6² / (2·3.9·1.6 − 1.6²) = 0.258.
  const std::vector<Box3D> boxes = {make_box(0, 0, 3.9, 1.6, 0.3), make_box(0.1, 0, 3.9, 1.6, 0.35),
                                    make_box(0, 0, 3.9, 1.6, 0.3 + std::numbers::pi / 2)};
  const std::vector<float> scores = {0.9f, 0.8f, 0.7f};
  EXPECT_NEAR(bev_iou(boxes[0], boxes[2]), 2.56 / 9.92, 1e-9);
  EXPECT_EQ(nms_rotated(boxes, scores, 0.15), (std::vector<int>{0}));
  EXPECT_EQ(nms_rotated(boxes, scores, 0.3), (std::vector<int>{0, 2}));
}

TEST(Nms, KeepsThinDiagonalNeighboursWhoseAxisAlignedBoxesOverlap) {
  const double q = std::numbers::pi / 4;
  const Box3D a = make_box(0, 0, 10, 0.5, q);
  const Box3D b = make_box(-0.7071, 0.7071, 10, 0.5, q);  // shifted 1 m perpendicular: no overlap
  EXPECT_GT(bev_iou_upper_bound(a, b), 0.5);
  EXPECT_EQ(bev_iou(a, b), 0.0);
  const std::vector<Box3D> boxes = {a, b};
  const std::vector<float> scores = {0.9f, 0.8f};
  EXPECT_EQ(nms_rotated(boxes, scores, 0.15).size(), 2u);
}

TEST(Nms, UpperBoundNeverBelowExactIou) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  for (int k = 0; k < 3000; ++k) {
    const Box3D a = make_box(2 * u(rng), 2 * u(rng), 3 + u(rng), 1.5 + 0.5 * u(rng), 3.2 * u(rng));
    const Box3D b = make_box(2 * u(rng), 2 * u(rng), 3 + u(rng), 1.5 + 0.5 * u(rng), 3.2 * u(rng));
    ASSERT_GE(bev_iou_upper_bound(a, b) + 1e-12, bev_iou(a, b));
  }
}

TEST(Nms, DropsNonFiniteAndRespectsTopK) {
  const std::vector<Box3D> boxes = {make_box(0, 0, 4, 2, 0), make_box(NAN, 0, 4, 2, 0), make_box(20, 0, 4, 2, 0)};
  const std::vector<float> scores = {0.5f, 0.9f, 0.7f};
  EXPECT_EQ(nms_rotated(boxes, scores, 0.15), (std::vector<int>{2, 0}));
  EXPECT_EQ(nms_rotated(boxes, scores, 0.15, 1), (std::vector<int>{2}));
}

namespace {
AnchorConfig small_grid() {
  AnchorConfig c;
  c.x_min_m = -20;
  c.x_max_m = 20;
  c.y_min_m = -10;
  c.y_max_m = 10;
  c.cell_m = 0.8;
  return c;
}
struct Head {
  std::vector<float> cls, box, dir;
};
// A synthetic head whose outputs encode `gt` exactly at the given anchors.
Head head_for(const AnchorGrid& g, const std::vector<Box3D>& gt, const std::vector<std::int64_t>& at,
              const BoxCoderConfig& coder) {
  Head h;
  h.cls.assign(g.size(), -8.f);
  h.box.assign(g.size() * 7, 0.f);
  h.dir.assign(g.size() * 2, 0.f);
  for (std::size_t k = 0; k < gt.size(); ++k) {
    const Box3D& b = gt[k];
    const float g7[7] = {float(b.center.x()), float(b.center.y()), float(b.center.z()), float(b.l_m), float(b.w_m),
                         float(b.h_m), float(b.yaw_rad)};
    encode_box(g.box(at[k]), g7, h.box.data() + 7 * at[k]);
    h.cls[at[k]] = 2.f - 0.5f * k;
    const int bin = direction_target(b.yaw_rad, coder);
    h.dir[2 * at[k] + bin] = 3.f;
  }
  return h;
}
}  // namespace

TEST(Decode, RecoversEncodedBoxesWithAnchorIndices) {
  const AnchorGrid g = generate_anchors(small_grid());
  const BoxCoderConfig coder;
  const std::vector<Box3D> gt = {make_box(3.1, 2.2, 4.5, 1.9, 2.8), make_box(-10.3, -4.1, 4.0, 1.7, -1.2),
                                 make_box(12.0, 6.5, 5.0, 2.0, -2.9)};
  const std::vector<std::int64_t> at = {(15 * g.width + 28) * 2 + 0, (7 * g.width + 12) * 2 + 1,
                                        (20 * g.width + 40) * 2 + 0};
  const Head h = head_for(g, gt, at, coder);
  DecodeStats st;
  const auto props = decode_head(g, h.cls.data(), h.box.data(), h.dir.data(), DecodeConfig{}, coder, &st);
  ASSERT_EQ(props.size(), 3u);
  EXPECT_EQ(st.above_threshold, 3);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(props[k].anchor, at[k]);  // score order = construction order
    const AnchorIndex ai = unflatten_anchor(at[k], g.width, 2);
    EXPECT_EQ(props[k].iy, ai.iy);
    EXPECT_EQ(props[k].ix, ai.ix);
    EXPECT_EQ(props[k].a, ai.a);
    EXPECT_NEAR(props[k].box.center.x(), gt[k].center.x(), 1e-4);
    EXPECT_NEAR(props[k].box.center.y(), gt[k].center.y(), 1e-4);
    EXPECT_NEAR(props[k].box.l_m, gt[k].l_m, 1e-4);
    EXPECT_NEAR(std::abs(wrap_angle(props[k].box.yaw_rad - gt[k].yaw_rad)), 0.0, 1e-4);
    EXPECT_NEAR(props[k].score, 1.f / (1.f + std::exp(-(2.f - 0.5f * k))), 1e-6);
  }
  const DetectionList dl = to_detection_list(props, 7, 123);
  EXPECT_EQ(dl.agent, 7);
  EXPECT_EQ(dl.detections.size(), 3u);
}

TEST(Decode, NmsAndMaxDetectionsApply) {
  const AnchorGrid g = generate_anchors(small_grid());
  const BoxCoderConfig coder;
  // Two anchors of one cell predicting the same box: NMS keeps one.
  const Box3D b = make_box(0.4, 0.4, 4.0, 1.8, 0.1);
  const std::int64_t c = (12 * g.width + 25) * 2;
  Head h = head_for(g, {b, b, make_box(15, 5, 4, 1.8, 0)}, {c, c + 1, (22 * g.width + 43) * 2}, coder);
  auto props = decode_head(g, h.cls.data(), h.box.data(), h.dir.data(), DecodeConfig{}, coder);
  ASSERT_EQ(props.size(), 2u);
  EXPECT_EQ(props[0].anchor, c);
  DecodeConfig one;
  one.max_detections = 1;
  EXPECT_EQ(decode_head(g, h.cls.data(), h.box.data(), h.dir.data(), one, coder).size(), 1u);
  DecodeConfig high;
  high.score_threshold = 0.95;
  EXPECT_TRUE(decode_head(g, h.cls.data(), h.box.data(), h.dir.data(), high, coder).empty());
}

TEST(Decode, NonFiniteOutputsAreCountedNotDecoded) {
  const AnchorGrid g = generate_anchors(small_grid());
  const BoxCoderConfig coder;
  Head h = head_for(g, {make_box(0.4, 0.4, 4.0, 1.8, 0.1)}, {(12 * g.width + 25) * 2}, coder);
  h.cls[0] = NAN;
  h.cls[1] = 5.f;
  h.box[7 * 1 + 3] = 1e9f;  // exp overflow → inf length
  DecodeStats st;
  const auto props = decode_head(g, h.cls.data(), h.box.data(), nullptr, DecodeConfig{}, coder, &st);
  EXPECT_EQ(props.size(), 1u);
  EXPECT_EQ(st.non_finite, 2);
}
