// The LibTorch network: shapes, the pillar feature net's max, losses, and that it can fit a scene.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <cmath>

#include "test_helpers.hpp"
#include "v2x/detection/decoder.hpp"
#include "v2x/encoder/network.hpp"

using namespace v2x;
using namespace v2x::encoder;
using v2x::encoder::testing::car;
using v2x::encoder::testing::synthetic_scene;
using v2x::encoder::testing::tiny_config;

TEST(Network, OutputShapesMatchTheAnchorGrid) {
  torch::manual_seed(1);
  const DetectorConfig cfg = tiny_config();
  DetectorNet net(cfg);
  net->eval();
  const SampleEncoder enc(cfg);
  const auto a = enc.encode(synthetic_scene({car(3, 1, 0.2)}, 1));
  const auto b = enc.encode(synthetic_scene({car(-5, -2, 1.0)}, 2));
  torch::NoGradGuard ng;
  const HeadOutput h = net->forward(make_pillar_batch({&a.pillars, &b.pillars}));
  const BevGrid g = cfg.feature_grid();
  ASSERT_EQ(g.width(), 32);
  ASSERT_EQ(g.height(), 16);
  const std::int64_t A = cfg.anchors.per_cell();
  ASSERT_EQ(A, 4);  // 2 sizes × 2 yaws
  EXPECT_EQ(h.cls.sizes(), (std::vector<std::int64_t>{2, 16, 32, A}));
  EXPECT_EQ(h.box.sizes(), (std::vector<std::int64_t>{2, 16, 32, A, 7}));
  EXPECT_EQ(h.dir.sizes(), (std::vector<std::int64_t>{2, 16, 32, A, 2}));
  EXPECT_EQ(h.features.sizes(), (std::vector<std::int64_t>{2, cfg.net.out_channels, 16, 32}));
  EXPECT_EQ(static_cast<std::int64_t>(a.targets.labels.size()), 16 * 32 * A);
}

TEST(Network, PillarFeatureNetTakesTheMaxOverEachPillarsPoints) {
  torch::manual_seed(2);
  PillarFeatureNet pfn(kPointFeatures, 8);
  pfn->eval();
  Pillars p;
  p.grid_w = 4, p.grid_h = 2;
  p.num_pillars = 2;
  // Pillar at cell 5 with 3 points, pillar at cell 2 with 1 point.
  p.point_cell = {5, 5, 5, 2};
  p.cells = {5, 2};
  p.counts = {3, 1};
  auto feats = torch::randn({4, kPointFeatures});
  p.features.assign(feats.data_ptr<float>(), feats.data_ptr<float>() + feats.numel());
  torch::NoGradGuard ng;
  const auto out = pfn->forward(make_pillar_batch({&p}));  // (1, 8, 2, 4)
  ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{1, 8, 2, 4}));
  // Reference: the per-point layers through the module's own parameters, then a max per pillar.
  auto params = pfn->named_parameters();
  auto bufs = pfn->named_buffers();
  auto x = torch::mm(feats, params["linear.weight"].t());
  x = (x - bufs["bn.running_mean"]) / torch::sqrt(bufs["bn.running_var"] + 1e-3) * params["bn.weight"] + params["bn.bias"];
  x = torch::relu(x);
  const auto ref5 = std::get<0>(x.narrow(0, 0, 3).max(0));
  const auto ref2 = x[3];
  EXPECT_TRUE(torch::allclose(out[0].select(1, 1).select(1, 1), ref5, 1e-5, 1e-6));  // cell 5 = (iy 1, ix 1)
  EXPECT_TRUE(torch::allclose(out[0].select(1, 0).select(1, 2), ref2, 1e-5, 1e-6));  // cell 2 = (iy 0, ix 2)
  EXPECT_EQ(out[0].select(1, 0).select(1, 0).abs().sum().item<float>(), 0.f);        // empty pillar
}

TEST(Loss, FocalLossMatchesTheHandComputedValueAndIgnoresIgnoredAnchors) {
  HeadOutput h;
  h.cls = torch::tensor({0.0f, 2.0f, -1.0f}).view({1, 1, 3, 1});  // (B,H,W,A)
  h.box = torch::zeros({1, 1, 3, 1, 7});
  h.dir = torch::zeros({1, 1, 3, 1, 2});
  TargetBatch t;
  t.labels = torch::tensor({1.0f, -1.0f, 0.0f}).view({1, 1, 3, 1});
  t.box = torch::zeros({1, 1, 3, 1, 7});
  t.dir = torch::zeros({1, 1, 3, 1}, torch::kInt64);
  LossConfig cfg;
  const LossTerms l = detection_loss(h, t, cfg);
  // Positive at logit 0: p = 0.5, CE = ln 2, weight 0.25 * 0.5^2. Negative at logit -1: p = sigmoid(-1),
  // CE = -ln(1 - p), weight 0.75 * p^2. Normalised by 1 positive.
  const double p = 1.0 / (1.0 + std::exp(1.0));
  const double expected = 0.25 * 0.25 * std::log(2.0) + 0.75 * p * p * -std::log(1 - p);
  EXPECT_NEAR(l.cls.item<double>(), expected, 1e-6);
  EXPECT_NEAR(l.box.item<double>(), 0.0, 1e-9);
  EXPECT_NEAR(l.dir.item<double>(), std::log(2.0), 1e-6);  // uniform direction logits on the positive
  EXPECT_EQ(l.num_positive.item<double>(), 1.0);
}

TEST(Loss, YawLossDependsOnSinOfTheDifference) {
  HeadOutput h;
  h.cls = torch::zeros({1, 1, 1, 1});
  h.dir = torch::zeros({1, 1, 1, 1, 2});
  TargetBatch t;
  t.labels = torch::ones({1, 1, 1, 1});
  t.dir = torch::zeros({1, 1, 1, 1}, torch::kInt64);
  t.box = torch::zeros({1, 1, 1, 1, 7});
  h.box = torch::zeros({1, 1, 1, 1, 7});
  h.box[0][0][0][0][6] = static_cast<float>(M_PI);  // same axis, opposite heading: no yaw loss (dir bins decide)
  EXPECT_NEAR(detection_loss(h, t, LossConfig{}).box.item<double>(), 0.0, 1e-6);
  h.box[0][0][0][0][6] = 0.5f;
  EXPECT_GT(detection_loss(h, t, LossConfig{}).box.item<double>(), 0.1);
}

TEST(Training, LossFallsWhenFittingASmallSyntheticSet) {
  torch::manual_seed(3);
  const DetectorConfig cfg = tiny_config();
  DetectorNet net(cfg);
  net->train();
  const SampleEncoder enc(cfg);
  const auto a = enc.encode(synthetic_scene({car(3, 1, 0.2), car(-6, -3, 1.4)}, 11));
  const auto b = enc.encode(synthetic_scene({car(-2, 2.5, -0.3)}, 12));
  ASSERT_GT(a.targets.num_positive, 0);
  const BevGrid g = cfg.feature_grid();
  const PillarBatch pb = make_pillar_batch({&a.pillars, &b.pillars});
  const TargetBatch tb = make_target_batch({&a.targets, &b.targets}, g.height(), g.width(), cfg.anchors.per_cell());
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(3e-3));
  double first = 0, last = 0;
  for (int it = 0; it < 25; ++it) {
    const LossTerms l = detection_loss(net->forward(pb), tb, cfg.loss);
    opt.zero_grad();
    l.total.backward();
    opt.step();
    if (it == 0) first = l.total.item<double>();
    last = l.total.item<double>();
    ASSERT_TRUE(std::isfinite(last));
  }
  EXPECT_LT(last, 0.7 * first) << "first " << first << " last " << last;
}

TEST(Training, FitsASyntheticSceneAndDecodesItsBoxes) {
  // End to end through the shared layout contract: assigner targets → head → detection's decoder.
  torch::manual_seed(5);
  const DetectorConfig cfg = tiny_config();
  DetectorNet net(cfg);
  net->train();
  const SampleEncoder enc(cfg);
  const RawSample scene = synthetic_scene({car(4, 1.5, 0.3), car(-6, -2.5, -1.2)}, 21);
  const auto e = enc.encode(scene);
  const BevGrid g = cfg.feature_grid();
  const PillarBatch pb = make_pillar_batch({&e.pillars});
  const TargetBatch tb = make_target_batch({&e.targets}, g.height(), g.width(), cfg.anchors.per_cell());
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(5e-3));
  for (int it = 0; it < 150; ++it) {
    const LossTerms l = detection_loss(net->forward(pb), tb, cfg.loss);
    opt.zero_grad();
    l.total.backward();
    opt.step();
  }
  // BatchNorm running statistics of a single scene are not settled: decode in training mode (batch statistics).
  torch::NoGradGuard ng;
  const HeadOutput h = net->forward(pb);
  const auto anchors = detection::generate_anchors(cfg.anchor_config());
  const auto cls = h.cls.contiguous(), box = h.box.contiguous(), dir = h.dir.contiguous();
  const auto props = detection::decode_head(anchors, cls.data_ptr<float>(), box.data_ptr<float>(),
                                            dir.data_ptr<float>(), cfg.decode, cfg.coder);
  for (const Box3D& gt : scene.boxes) {
    double best = 0;
    for (const auto& p : props) best = std::max(best, bev_iou(p.box, gt));
    EXPECT_GT(best, 0.5) << "GT at " << gt.center.transpose();
  }
}

TEST(Network, FastPillarFeatureNetMatchesTheTorchPath) {
  torch::manual_seed(6);
  PillarFeatureNet pfn(kPointFeatures, 16);
  {
    // Non-trivial BatchNorm statistics and affine parameters.
    torch::NoGradGuard ng;
    auto params = pfn->named_parameters();
    auto bufs = pfn->named_buffers();
    params["bn.weight"].uniform_(0.5, 1.5);
    params["bn.bias"].uniform_(-0.5, 0.5);
    bufs["bn.running_mean"].uniform_(-0.3, 0.3);
    bufs["bn.running_var"].uniform_(0.5, 2.0);
  }
  pfn->eval();
  const DetectorConfig cfg = tiny_config();
  const SampleEncoder enc(cfg);
  const auto a = enc.encode(synthetic_scene({car(3, 1, 0.2), car(-6, -3, 1.4)}, 31));
  const auto b = enc.encode(synthetic_scene({car(-2, 2.5, -0.3)}, 32));
  // A batch of many samples, run with two LibTorch threads set (the result must not depend on them).
  std::vector<const Pillars*> samples;
  for (int i = 0; i < 16; ++i) samples.push_back(i % 2 ? &b.pillars : &a.pillars);
  const PillarBatch pb = make_pillar_batch(samples);
  ASSERT_GT(pb.features.size(0), 2 * 8192);
  // The same points in random order: pillars are no longer contiguous runs (the single-thread path).
  PillarBatch shuffled = pb;
  const auto perm = torch::randperm(pb.features.size(0), torch::kInt64);
  shuffled.features = pb.features.index_select(0, perm);
  shuffled.index = pb.index.index_select(0, perm);
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  torch::NoGradGuard ng;
  const auto fast = pfn->forward(pb);
  const auto fast_shuffled = pfn->forward(shuffled);
  pfn->set_fast_inference(false);
  const auto ref = pfn->forward(pb);
  at::set_num_threads(threads);
  ASSERT_EQ(fast.sizes(), ref.sizes());
  EXPECT_TRUE(torch::allclose(fast, ref, 1e-5, 1e-5)) << (fast - ref).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(fast_shuffled, ref, 1e-5, 1e-5)) << (fast_shuffled - ref).abs().max().item<float>();
  EXPECT_GT(ref.abs().sum().item<float>(), 0.f);
}

TEST(Network, FoldingBatchNormForInferenceKeepsTheOutputs) {
  torch::manual_seed(7);
  const DetectorConfig cfg = tiny_config();
  DetectorNet net(cfg);
  {  // non-trivial BatchNorm statistics, as after training
    torch::NoGradGuard ng;
    for (auto& kv : net->named_parameters())
      if (kv.key().find("backbone") == 0 && kv.value().dim() == 1) kv.value().uniform_(0.5, 1.5);
    for (auto& kv : net->named_buffers()) {
      if (kv.key().find("running_mean") != std::string::npos) kv.value().uniform_(-0.3, 0.3);
      if (kv.key().find("running_var") != std::string::npos) kv.value().uniform_(0.5, 2.0);
    }
  }
  net->eval();
  const SampleEncoder enc(cfg);
  const auto a = enc.encode(synthetic_scene({car(3, 1, 0.2), car(-6, -3, 1.4)}, 41));
  const PillarBatch pb = make_pillar_batch({&a.pillars});
  torch::NoGradGuard ng;
  const HeadOutput ref = net->forward(pb);
  const std::int64_t bn_before = static_cast<std::int64_t>(net->named_buffers().size());
  net->fold_batchnorm_for_inference();
  EXPECT_LT(static_cast<std::int64_t>(net->named_buffers().size()), bn_before);  // the backbone's BN are gone
  const HeadOutput got = net->forward(pb);
  EXPECT_TRUE(torch::allclose(got.features, ref.features, 1e-4, 1e-4))
      << (got.features - ref.features).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(got.cls, ref.cls, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(got.box, ref.box, 1e-4, 1e-4));
  EXPECT_GT(ref.features.abs().sum().item<float>(), 0.f);
}
