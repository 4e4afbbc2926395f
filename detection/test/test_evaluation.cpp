#include <gtest/gtest.h>

#include <cmath>

#include "v2x/detection/evaluation.hpp"

using namespace v2x;
using namespace v2x::detection;

namespace {
Box3D make_box(double x, double y, double l = 4.0, double w = 2.0, double yaw = 0.0, double z = -1.0) {
  Box3D b;
  b.center = {x, y, z};
  b.l_m = l;
  b.w_m = w;
  b.h_m = 1.5;
  b.yaw_rad = yaw;
  return b;
}
Detection det(const Box3D& b, float score) { return Detection{b, score, ObjectClass::Car}; }
Object3D obj(const Box3D& b, int points = -1) {
  Object3D o;
  o.box = b;
  o.lidar_points = points;
  return o;
}
}  // namespace

// Hand computation (VOC all-point AP as OpenCOOD's voc_ap):
//   Frame A: GT g1, g2. Predictions 0.9 (on g1 → TP), 0.6 (nowhere → FP).
//   Frame B: GT g3.     Predictions 0.8 (on g3 → TP), 0.7 (nowhere → FP).
//   #GT = 3.
// OpenCOOD default (frames concatenated in order, each frame sorted): TP,FP,TP,FP
//   cum TP 1,1,2,2  cum FP 0,1,1,2  rec 1/3,1/3,2/3,2/3  prec 1,1/2,2/3,1/2
//   mrec 0,1/3,1/3,2/3,2/3,1   mpre 0,1,1/2,2/3,1/2,0 → envelope 1,1,2/3,2/3,1/2,0
//   AP = (1/3-0)·1 + (2/3-1/3)·2/3 + (1-2/3)·0 = 1/3 + 2/9 = 5/9
// Global sort (0.9,0.8,0.7,0.6): TP,TP,FP,FP
//   rec 1/3,2/3,2/3,2/3  prec 1,1,2/3,1/2 → AP = 1/3·1 + 1/3·1 = 2/3
TEST(Ap, ReproducesHandComputedCaseDefaultAndGlobalSort) {
  ApEvaluator ev;
  const Box3D g1 = make_box(10, 0), g2 = make_box(20, 5), g3 = make_box(-15, -5);
  const std::vector<Detection> da = {det(make_box(50, 20), 0.6f), det(g1, 0.9f)};  // unsorted on purpose
  const std::vector<Object3D> ga = {obj(g1), obj(g2)};
  ev.add_frame(da, ga);
  const std::vector<Detection> db = {det(g3, 0.8f), det(make_box(-50, -20), 0.7f)};
  const std::vector<Object3D> gb = {obj(g3)};
  ev.add_frame(db, gb);
  for (double t : {0.3, 0.5, 0.7}) {
    EXPECT_NEAR(ev.ap(t, false), 5.0 / 9.0, 1e-12);
    EXPECT_NEAR(ev.ap(t, true), 2.0 / 3.0, 1e-12);
  }
  const ApSummary s = ev.summary();
  EXPECT_EQ(s.num_gt, 3);
  EXPECT_EQ(s.num_detections, 4);
  EXPECT_EQ(s.frames, 2);
  EXPECT_EQ(s.tp[1], 2);
}

TEST(Ap, DefaultAndGlobalSortAgreeOnOneFrame) {
  ApEvaluator ev;
  const std::vector<Detection> d = {det(make_box(0, 0), 0.9f), det(make_box(30, 0), 0.8f), det(make_box(10, 0), 0.7f)};
  const std::vector<Object3D> g = {obj(make_box(0, 0)), obj(make_box(10, 0))};
  ev.add_frame(d, g);
  // TP,FP,TP: rec 1/2,1/2,1 prec 1,1/2,2/3 → AP = 1/2 + 1/2·2/3 = 5/6.
  EXPECT_NEAR(ev.ap(0.5, false), 5.0 / 6.0, 1e-12);
  EXPECT_NEAR(ev.ap(0.5, true), 5.0 / 6.0, 1e-12);
}

TEST(Ap, IouThresholdDecidesTruePositive) {
  // 4×2 boxes shifted by 1 m along x: IoU = 3/5 = 0.6.
  ApEvaluator ev;
  const std::vector<Detection> d = {det(make_box(1, 0), 0.9f)};
  const std::vector<Object3D> g = {obj(make_box(0, 0))};
  ev.add_frame(d, g);
  EXPECT_DOUBLE_EQ(ev.ap(0.3, false), 1.0);
  EXPECT_DOUBLE_EQ(ev.ap(0.5, false), 1.0);
  EXPECT_DOUBLE_EQ(ev.ap(0.7, false), 0.0);
  EXPECT_THROW(ev.ap(0.6, false), std::out_of_range);
}

TEST(Ap, IouIsComparedInFloat32LikeOpenCood) {
  // IoU = (4-dx)/(4+dx) set to 0.5 - 1e-9 in double: float32(IoU) == 0.5 → OpenCOOD counts it (>= 0.5).
  const double r = 0.5 - 1e-9, dx = 4 * (1 - r) / (1 + r);
  ASSERT_LT(bev_iou(make_box(dx, 0), make_box(0, 0)), 0.5);
  ApEvaluator ev;
  const std::vector<Detection> d = {det(make_box(dx, 0), 0.9f)};
  const std::vector<Object3D> g = {obj(make_box(0, 0))};
  ev.add_frame(d, g);
  EXPECT_DOUBLE_EQ(ev.ap(0.5, false), 1.0);
}

TEST(Ap, EachGtMatchesAtMostOnePrediction) {
  ApEvaluator ev;
  const std::vector<Detection> d = {det(make_box(0, 0), 0.9f), det(make_box(0.1, 0), 0.8f)};
  const std::vector<Object3D> g = {obj(make_box(0, 0))};
  ev.add_frame(d, g);
  // TP, FP: rec 1,1 prec 1,1/2 → AP 1 (the duplicate only lowers precision after full recall).
  EXPECT_DOUBLE_EQ(ev.ap(0.5, false), 1.0);
  EXPECT_EQ(ev.summary().tp[1], 1);
  // Duplicate first (higher score) takes the GT, the exact one becomes FP.
  ApEvaluator ev2;
  const std::vector<Detection> d2 = {det(make_box(0, 0), 0.8f), det(make_box(0.1, 0), 0.9f)};
  ev2.add_frame(d2, g);
  EXPECT_DOUBLE_EQ(ev2.ap(0.5, false), 1.0);
  EXPECT_EQ(ev2.summary().num_detections, 2);
}

TEST(Ap, GtRangeFilterRequiresAllEightCorners) {
  EvalConfig cfg;
  ApEvaluator ev(cfg);
  const Box3D inside = make_box(130, 30);
  const Box3D corner_out_x = make_box(139, 0);           // centre inside, front corners at x = 141
  const Box3D corner_out_z = make_box(0, 10, 4, 2, 0, 0.4);  // top at z = 1.15 > 1
  const Box3D centre_out = make_box(0, 45);
  const std::vector<Object3D> g = {obj(inside), obj(corner_out_x), obj(corner_out_z), obj(centre_out)};
  const FrameEval fe = ev.add_frame({}, g);
  ASSERT_EQ(fe.gt.size(), 1u);
  EXPECT_DOUBLE_EQ(fe.gt[0].center.x(), 130);
  EXPECT_EQ(ev.summary().num_gt, 1);
  EXPECT_TRUE(box_in_range(make_box(138, 39, 4, 2), cfg.gt_range));  // corners at x=140, y=40: inclusive
}

TEST(Ap, PredictionsOutsideRangeAreDroppedUnlessDisabled) {
  const std::vector<Detection> d = {det(make_box(139.5, 0), 0.9f)};  // BEV corner at x = 141.5
  const std::vector<Object3D> none;
  ApEvaluator ev;
  EXPECT_TRUE(ev.add_frame(d, none).detections.empty());
  EvalConfig keep;
  keep.filter_predictions = false;
  ApEvaluator ev2(keep);
  EXPECT_EQ(ev2.add_frame(d, none).detections.size(), 1u);
}

TEST(Ap, MinLidarPointsIgnoresSparseGtAndTheirMatches) {
  EvalConfig cfg;
  cfg.min_lidar_points = 10;
  ApEvaluator ev(cfg);
  // g_dense (50 returns) found; g_sparse (3 returns) found by the top prediction; g_unknown (-1) kept, missed.
  const std::vector<Object3D> g = {obj(make_box(0, 0), 50), obj(make_box(10, 0), 3), obj(make_box(20, 0), -1)};
  const std::vector<Detection> d = {det(make_box(10, 0), 0.95f), det(make_box(0, 0), 0.9f),
                                    det(make_box(40, 0), 0.5f)};
  const FrameEval fe = ev.add_frame(d, g);
  EXPECT_EQ(fe.gt_ignored, (std::vector<bool>{false, true, false}));
  const ApSummary s = ev.summary();
  EXPECT_EQ(s.num_gt, 2);
  EXPECT_EQ(s.num_gt_ignored, 1);
  // Counted predictions: 0.9 TP, 0.5 FP (the 0.95 one matched a don't-care GT).
  // rec 1/2,1/2 prec 1,1/2 → AP = 1/2.
  EXPECT_DOUBLE_EQ(ev.ap(0.5, false), 0.5);
  // Without the rule: TP,TP,FP over 3 GT → AP = 2/3.
  ApEvaluator all;
  all.add_frame(d, g);
  EXPECT_NEAR(all.ap(0.5, false), 2.0 / 3.0, 1e-12);
}

TEST(Ap, VocApOfHandCurve) {
  const std::vector<double> rec = {0.25, 0.5, 0.5, 0.75};
  const std::vector<double> prec = {1.0, 1.0, 0.5, 0.6};
  // envelope at recall steps: 0.25→1, 0.5→1, 0.75→0.6; AP = 0.25·1 + 0.25·1 + 0.25·0.6 = 0.65
  EXPECT_NEAR(voc_ap(rec, prec), 0.65, 1e-12);
  EXPECT_DOUBLE_EQ(voc_ap({}, {}), 0.0);
}

TEST(Ap, NoGroundTruthOrNoPredictionsGivesZero) {
  ApEvaluator ev;
  const std::vector<Detection> d = {det(make_box(0, 0), 0.9f)};
  ev.add_frame(d, std::vector<Object3D>{});
  EXPECT_DOUBLE_EQ(ev.ap(0.5, false), 0.0);
  ApEvaluator ev2;
  ev2.add_frame(std::vector<Detection>{}, std::vector<Object3D>{obj(make_box(0, 0))});
  EXPECT_DOUBLE_EQ(ev2.ap(0.5, true), 0.0);
}

TEST(Ap, InvalidConfigThrows) {
  EvalConfig cfg;
  cfg.gt_range = {10, -40, -3, -10, 40, 1};
  EXPECT_THROW(ApEvaluator{cfg}, ConfigError);
  EvalConfig none;
  none.iou_thresholds.clear();
  EXPECT_THROW(ApEvaluator{none}, ConfigError);
}
