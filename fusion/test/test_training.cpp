// Smoke test of the fusion training stage on the CPU: a tiny multi-agent simulator run, an untrained (seeded)
// slim detector frozen, messages through the selector + INT8 fake quantization, pose noise and one frame of
// latency; the anchor fusion network (and the AttFuse module) overfit the few samples and the loss must fall.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "v2x/fusion/training.hpp"
#include "v2x/sim/simulator.hpp"

using namespace v2x;
using namespace v2x::fusion;

namespace {

encoder::DetectorConfig tiny_detector() {
  encoder::DetectorConfig c;
  c.pillars.x_min_m = -32, c.pillars.x_max_m = 32;
  c.pillars.y_min_m = -16, c.pillars.y_max_m = 16;
  c.pillars.pillar_m = 0.5;
  c.pillars.max_pillars = 6000;
  c.net.pfn_channels = 16;
  c.net.block_channels = {16, 16};
  c.net.block_layers = {1, 1};
  c.net.block_strides = {2, 2};
  c.net.up_channels = 16;
  c.net.out_channels = 16;
  c.proposal_score_min = 0.0;  // an untrained head scores ~0.01: keep proposals anyway
  c.num_proposals = 40;
  c.decode.score_threshold = 0.0;
  c.decode.max_detections = 40;
  return c;
}

}  // namespace

TEST(FusionTraining, OverfitsATinyMultiAgentSetAndTheLossFalls) {
  torch::manual_seed(3);
  at::set_num_threads(2);
  const auto dcfg = tiny_detector();
  auto det = std::make_shared<NetDetector>(dcfg, encoder::DetectorNet(dcfg));
  for (auto& p : det->net()->parameters()) p.requires_grad_(false);
  detection::TargetAssigner assigner(dcfg.anchor_config(), dcfg.assign, dcfg.coder);

  FusionConfig cfg;
  cfg.anchor.dim = 32;
  cfg.anchor.ffn_dim = 64;
  cfg.align.check_pose = false;  // an untrained detector's boxes do not agree across agents
  FusionTrainConfig tcfg;
  tcfg.budget_bytes = 4096;
  tcfg.lr = 3e-3;
  tcfg.batch_frames = 4;

  sim::Simulator s(sim::preset("tiny"), 5);
  Rng rng(1);
  std::vector<std::unique_ptr<selection::Selector>> selectors;
  std::vector<PeerInput> previous;  // last frame's messages (one frame of latency)
  std::vector<FusionSample> samples;
  for (int k = 0; k < 2; ++k) {
    const CoopFrame f = s.step();
    ASSERT_GE(f.agents.size(), 2u);
    std::vector<const PointCloud*> clouds;
    std::vector<AgentId> ids;
    std::vector<TimestampNs> stamps;
    for (const auto& a : f.agents) clouds.push_back(&a.cloud), ids.push_back(a.id), stamps.push_back(a.stamp_ns);
    auto perc = det->perceive_batch(clouds, ids, stamps);
    ASSERT_EQ(perc.size(), f.agents.size());
    EXPECT_EQ(perc[0].map.channels, 16);
    EXPECT_FALSE(perc[0].proposals.empty());
    std::vector<AgentObservation> obs;
    std::vector<PeerInput> now;
    for (std::size_t i = 0; i < f.agents.size(); ++i) {
      const auto& a = f.agents[i];
      obs.push_back(AgentObservation{a.id, a.is_rsu, a.stamp_ns, a.T_world_lidar, std::move(perc[i])});
      if (selectors.size() <= i) selectors.push_back(make_train_selector(tcfg));
      now.push_back(make_peer_input(obs.back(), *selectors[i], tcfg.quant, perturb_pose(a.T_world_lidar, 0.2, 0.2, rng),
                                    a.stamp_ns));
      EXPECT_LE(encoded_size_upper_bound(now.back().msg.num_cells(), now.back().msg.channels, now.back().msg.quant,
                                         now.back().msg.grid.num_cells(), now.back().msg.anchors.size(),
                                         now.back().msg.anchor_dim()),
                static_cast<std::size_t>(tcfg.budget_bytes));
    }
    if (!previous.empty()) {
      for (std::size_t e = 0; e < obs.size(); ++e) {
        if (obs[e].is_rsu) continue;
        EgoInput in;
        in.id = obs[e].id;
        in.stamp_ns = obs[e].stamp_ns;
        in.T_world_lidar = obs[e].T_world_lidar;
        in.features = &obs[e].perception.map;
        in.proposals = &obs[e].perception.proposals;
        in.local = &obs[e].perception.local;
        std::vector<PeerInput> peers;
        for (std::size_t j = 0; j < previous.size(); ++j)
          if (j != e) {
            peers.push_back(previous[j]);
            peers.back().age_ns = in.stamp_ns - previous[j].msg.stamp_ns;
          }
        const auto gt = gt_in_agent_frame(f, obs[e].T_world_lidar, dcfg.feature_grid(), 1);
        samples.push_back(make_fusion_sample(in, peers, gt, cfg, tcfg, &assigner));
        EXPECT_GT(samples.back().stats.peers_used, 0);
        EXPECT_EQ(samples.back().queries.q_feat.size(1), 32);
      }
    }
    previous = std::move(now);
  }
  ASSERT_GE(samples.size(), 2u);
  // Binary focal loss: the total falls. Quality focal loss: its score targets are the IoUs of the refined boxes,
  // which rise as the boxes improve (the score term grows at first), so the box term must fall.
  for (const bool quality : {false, true}) {
    tcfg.quality_scores = quality;
    torch::manual_seed(3);
    FusionTrainer trainer(cfg, tcfg, 16, torch::kCPU);
    const auto before = trainer.evaluate(samples, det.get());
    ASSERT_GT(before.queries, 0);
    for (int i = 0; i < 30; ++i) trainer.step(samples, det.get());
    const auto after = trainer.evaluate(samples, det.get());
    const std::string msg = "quality " + std::to_string(quality) + ": " + std::to_string(before.anchor_loss) +
                            " (score " + std::to_string(before.anchor_score) + ", box " +
                            std::to_string(before.anchor_box) + ") -> " + std::to_string(after.anchor_loss) +
                            " (score " + std::to_string(after.anchor_score) + ", box " +
                            std::to_string(after.anchor_box) + ")";
    if (quality) {
      EXPECT_LT(after.anchor_box, 0.7 * before.anchor_box) << msg;
      EXPECT_TRUE(std::isfinite(after.anchor_score)) << msg;
    } else {
      EXPECT_LT(after.anchor_loss, 0.7 * before.anchor_loss) << msg;
      // AttFuse: in this tiny town the peers' selected cells rarely overlap the ego's small grid, so its gradient
      // is often zero here; only check that its loss path runs (the GPU run logs its training loss).
      EXPECT_TRUE(std::isfinite(after.attn_loss));
      EXPECT_GT(before.attn_loss, 0.0);
    }
  }
}

TEST(FusionTraining, QualityScoreLossPullsTheScoreTowardsTheRefinedBoxIoU) {
  // Two queries whose last-layer boxes overlap their GT with IoU 1 and 0.5 (the second is shifted by a third of
  // its length), one unmatched query: the score loss is smallest when each score equals that IoU (0 unmatched).
  AnchorFusionOutput out;
  const auto gt = torch::tensor({{0.f, 0.f, 0.f, 4.5f, 1.8f, 1.5f, 0.f},
                                 {20.f, 0.f, 0.f, 4.5f, 1.8f, 1.5f, 0.f},
                                 {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}});
  auto boxes = gt.clone();
  boxes[1][0] = 21.5f;  // overlap 3.0 of 4.5 m → IoU (3.0·1.8) / (2·4.5·1.8 − 3.0·1.8) = 0.5
  boxes[2] = torch::tensor({40.f, 0.f, 0.f, 4.5f, 1.8f, 1.5f, 0.f});
  out.boxes = {boxes, boxes};
  out.deltas = {torch::zeros({3, 7})};
  const auto label = torch::tensor({1.f, 1.f, 0.f});
  const auto reg = torch::tensor({true, true, false});
  FusionTrainConfig cfg;
  ASSERT_TRUE(cfg.quality_scores);
  auto score_loss = [&](float p0, float p1, float p2) {
    const auto p = torch::tensor({p0, p1, p2});
    out.logits = {torch::log(p / (1 - p))};
    return anchor_fusion_loss(out, label, gt, reg, cfg).score.item<double>();
  };
  const double at_iou = score_loss(0.999f, 0.5f, 0.001f);
  EXPECT_LT(at_iou, score_loss(0.999f, 0.9f, 0.001f));  // over-confident on the poor box
  EXPECT_LT(at_iou, score_loss(0.999f, 0.2f, 0.001f));
  EXPECT_LT(at_iou, score_loss(0.7f, 0.5f, 0.001f));    // under-confident on the exact box
  EXPECT_LT(at_iou, score_loss(0.999f, 0.5f, 0.3f));    // a score on the unmatched query
  cfg.quality_scores = false;  // binary labels: the poor box is a positive like the exact one
  out.logits = {torch::log(torch::tensor({0.999f, 0.5f, 0.001f}) / (1 - torch::tensor({0.999f, 0.5f, 0.001f})))};
  const double binary_half = anchor_fusion_loss(out, label, gt, reg, cfg).score.item<double>();
  out.logits = {torch::log(torch::tensor({0.999f, 0.9f, 0.001f}) / (1 - torch::tensor({0.999f, 0.9f, 0.001f})))};
  EXPECT_LT(anchor_fusion_loss(out, label, gt, reg, cfg).score.item<double>(), binary_half);
}
