#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>
#include <thread>

#include "v2x/detection/target_assigner.hpp"

using namespace v2x;
using namespace v2x::detection;

namespace {
AnchorConfig small_grid() {
  AnchorConfig c;
  c.x_min_m = -20;
  c.x_max_m = 20;
  c.y_min_m = -16;
  c.y_max_m = 16;
  c.cell_m = 0.8;
  return c;
}
Box3D make_box(double x, double y, double l, double w, double yaw, double z = -1.0, double h = 1.56) {
  Box3D b;
  b.center = {x, y, z};
  b.l_m = l;
  b.w_m = w;
  b.h_m = h;
  b.yaw_rad = yaw;
  return b;
}
std::vector<Box3D> random_gt(std::mt19937& rng, int n) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Box3D> gt;
  for (int i = 0; i < n; ++i)
    gt.push_back(make_box(-22 + 44 * u(rng), -18 + 36 * u(rng), 3 + 4 * u(rng), 1.5 + 1 * u(rng),
                          (2 * u(rng) - 1) * std::numbers::pi));
  gt.push_back(make_box(1.2, 0.4, 1.0, 0.5, 0.2));  // tiny: every IoU below neg_iou
  return gt;
}
Box3D anchor_box(const float* a) { return make_box(a[0], a[1], a[3], a[4], a[6], a[2], a[5]); }
}  // namespace

TEST(Assigner, AlignedGtIsPositiveWithZeroTargets) {
  const TargetAssigner ta(small_grid());
  const AnchorGrid& g = ta.anchors();
  const std::int64_t i = (10 * g.width + 20) * g.anchors_per_cell + 1;  // yaw 90° slot
  const float* a = g.box(i);
  const Box3D gt = make_box(a[0], a[1], a[3], a[4], a[6], a[2], a[5]);
  AssignmentTargets out;
  ta.assign(std::span<const Box3D>(&gt, 1), out);
  EXPECT_EQ(out.labels[i], 1);
  EXPECT_EQ(out.matched_gt[i], 0);
  for (int k = 0; k < 7; ++k) EXPECT_NEAR(out.box_targets[7 * i + k], 0.f, 1e-6);
  EXPECT_EQ(out.dir_targets[i], direction_target(a[6], ta.coder_config()));
  EXPECT_FLOAT_EQ(out.max_iou[i], 1.f);
  EXPECT_EQ(out.num_positive, static_cast<int>(out.positives.size()));
}

TEST(Assigner, BestAnchorIsPositiveEvenBelowThreshold) {
  const TargetAssigner ta(small_grid());
  const Box3D tiny = make_box(1.2, 0.4, 1.0, 0.5, 0.2);  // IoU with any 3.9×1.6 anchor ≤ 0.5/6.24
  AssignmentTargets out;
  ta.assign(std::span<const Box3D>(&tiny, 1), out);
  ASSERT_EQ(out.num_positive, 1);
  const std::int64_t p = out.positives[0];
  EXPECT_EQ(out.matched_gt[p], 0);
  EXPECT_GT(out.max_iou[p], 0.f);
  EXPECT_LT(out.max_iou[p], 0.45f);
  // Every other anchor is negative (all IoUs < neg_iou).
  EXPECT_EQ(out.num_negative, static_cast<int>(ta.anchors().size()) - 1);
}

TEST(Assigner, LabelsMatchBruteForceRotatedIou) {
  std::mt19937 rng(42);
  const TargetAssigner ta(small_grid());
  const AnchorGrid& g = ta.anchors();
  for (int trial = 0; trial < 3; ++trial) {
    const std::vector<Box3D> gt = random_gt(rng, 12);
    AssignmentTargets out;
    ta.assign(gt, out);
    // Reference: all anchor × GT IoUs, then the documented rules.
    std::vector<float> max_iou(g.size(), 0.f);
    std::vector<int> arg(g.size(), -1);
    std::vector<std::int64_t> best(gt.size(), -1);
    std::vector<double> best_iou(gt.size(), 0.0);
    for (std::int64_t i = 0; i < g.size(); ++i) {
      const Box3D a = anchor_box(g.box(i));
      for (std::size_t k = 0; k < gt.size(); ++k) {
        const double iou = bev_iou(a, gt[k]);
        if (iou > max_iou[i]) {
          max_iou[i] = static_cast<float>(iou);
          arg[i] = static_cast<int>(k);
        }
        if (iou > best_iou[k]) {
          best_iou[k] = iou;
          best[k] = i;
        }
      }
    }
    int pos = 0;
    for (std::int64_t i = 0; i < g.size(); ++i) {
      int label = max_iou[i] > 0.6f ? 1 : (max_iou[i] < 0.45f ? 0 : -1);
      int m = label == 1 ? arg[i] : -1;
      for (std::size_t k = 0; k < gt.size(); ++k)
        if (best[k] == i) label = 1, m = static_cast<int>(k);
      ASSERT_EQ(out.labels[i], label) << "anchor " << i;
      if (label == 1) {
        ++pos;
        ASSERT_EQ(out.matched_gt[i], m) << "anchor " << i;
      }
    }
    EXPECT_EQ(out.num_positive, pos);
    EXPECT_GT(pos, 12);
  }
}

TEST(Assigner, FloatOverloadAndConcurrentCallsAgree) {
  std::mt19937 rng(5);
  const TargetAssigner ta(small_grid());
  std::vector<std::vector<Box3D>> sets;
  for (int t = 0; t < 4; ++t) sets.push_back(random_gt(rng, 20));
  std::vector<AssignmentTargets> serial(4), parallel(4);
  for (int t = 0; t < 4; ++t) ta.assign(sets[t], serial[t]);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<float> flat;
      for (const Box3D& b : sets[t])
        flat.insert(flat.end(), {float(b.center.x()), float(b.center.y()), float(b.center.z()), float(b.l_m),
                                 float(b.w_m), float(b.h_m), float(b.yaw_rad)});
      for (int rep = 0; rep < 3; ++rep) ta.assign(flat.data(), static_cast<int>(sets[t].size()), parallel[t]);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(serial[t].labels, parallel[t].labels);
    EXPECT_EQ(serial[t].matched_gt, parallel[t].matched_gt);
    EXPECT_EQ(serial[t].dir_targets, parallel[t].dir_targets);
    ASSERT_EQ(serial[t].box_targets.size(), parallel[t].box_targets.size());
    for (std::size_t k = 0; k < serial[t].box_targets.size(); ++k)
      ASSERT_NEAR(serial[t].box_targets[k], parallel[t].box_targets[k], 1e-5);
  }
}

TEST(Assigner, DegenerateGtIsSkippedAndCounted) {
  const TargetAssigner ta(small_grid());
  std::vector<Box3D> gt = {make_box(NAN, 0, 4, 2, 0), make_box(0, 0, 0, 2, 0), make_box(100, 100, 4, 2, 0)};
  AssignmentTargets out;
  ta.assign(gt, out);
  EXPECT_EQ(out.skipped_gt, 2);
  EXPECT_EQ(out.num_positive, 0);  // the third is outside the grid
  EXPECT_EQ(out.num_negative, static_cast<int>(ta.anchors().size()));
  ta.assign(std::span<const Box3D>(), out);
  EXPECT_EQ(out.num_positive, 0);
}
