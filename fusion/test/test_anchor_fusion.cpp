#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.hpp"
#include "v2x/fusion/fusers.hpp"
#include "v2x/fusion/model_io.hpp"

using namespace v2x;
using namespace v2x::fusion;
using namespace v2x::fusion::test;

namespace {
BevGrid grid() { return BevGrid{-40, 40, -20, 20, 0.8}; }
constexpr int kC = 8;

struct Frame {
  FeatureMap ego_map = indexed_map(grid(), kC);
  std::vector<SparseAnchor> proposals;
  DetectionList local;
  std::vector<PeerInput> peers;
  EgoInput ego() const {
    EgoInput e;
    e.features = &ego_map;
    e.proposals = &proposals;
    e.local = &local;
    return e;
  }
};

Frame make_frame(bool with_peer) {
  Frame f;
  for (const auto& b : {car(8, 3), car(14, -4), car(20, 6), car(-10, 2)}) {
    f.proposals.push_back(SparseAnchor{b, 0.8f, std::vector<float>(kC, 0.5f)});
    f.local.detections.push_back(Detection{b, 0.8f});
  }
  if (with_peer) {
    const Pose T_world_peer = planar_pose(25, 3, 0, 0.5);
    PeerInput p;
    p.msg = all_cells(indexed_map(grid(), kC), T_world_peer);
    for (const auto& w : {car(8, 3), car(14, -4), car(20, 6), car(30, -8)})
      p.msg.anchors.push_back(SparseAnchor{w.transformed(T_world_peer.inverse()), 0.9f, std::vector<float>(kC, 1.f)});
    p.age_ns = 100 * kNsPerMs;
    f.peers.push_back(p);
  }
  return f;
}
}  // namespace

TEST(AnchorFusion, QueriesMergePeerAnchorsAndHaveTheDocumentedShapes) {
  const Frame f = make_frame(true);
  FusionConfig cfg;
  FusionStats st;
  const auto aligned = align_peers(f.ego(), f.peers, cfg.align, requirements_from(f.ego()), &st);
  ASSERT_EQ(aligned.size(), 1u);
  const auto q = build_anchor_queries(f.ego(), aligned, cfg);
  // 4 ego proposals; the peer's three shared cars merge into them; its hidden car is a new query.
  ASSERT_EQ(q.num_queries(), 5);
  const std::int64_t K = kPatternKeys * 2 + cfg.anchor.anchor_keys;
  EXPECT_EQ(q.q_feat.sizes(), (std::vector<std::int64_t>{5, 2 * kC}));
  EXPECT_EQ(q.k_feat.sizes(), (std::vector<std::int64_t>{5, K, kC}));
  EXPECT_EQ(q.k_xy.sizes(), (std::vector<std::int64_t>{5, K, 2}));
  EXPECT_EQ(q.k_meta.sizes(), (std::vector<std::int64_t>{5, K, kKeyMeta}));
  EXPECT_EQ(q.k_mask.sizes(), (std::vector<std::int64_t>{5, K}));
  // Shared cars are marked as seen by ego and vehicle; the hidden car by the vehicle only.
  EXPECT_FLOAT_EQ(q.q_src[0][0].item<float>(), 1.f);
  EXPECT_FLOAT_EQ(q.q_src[0][1].item<float>(), 1.f);
  EXPECT_FLOAT_EQ(q.q_src[4][0].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(q.q_src[4][1].item<float>(), 1.f);
  // Every ego key is valid.
  EXPECT_TRUE(q.k_mask.narrow(1, 0, kPatternKeys).all().item<bool>());

  AnchorFusionNet net(cfg.anchor, kC);
  torch::NoGradGuard ng;
  const auto out = net->forward(q);
  ASSERT_EQ(out.boxes.size(), static_cast<std::size_t>(cfg.anchor.layers + 1));
  ASSERT_EQ(out.logits.size(), static_cast<std::size_t>(cfg.anchor.layers));
  EXPECT_EQ(out.boxes.back().sizes(), (std::vector<std::int64_t>{5, 7}));
  EXPECT_EQ(out.logits.back().sizes(), (std::vector<std::int64_t>{5}));
  EXPECT_TRUE(torch::isfinite(out.boxes.back()).all().item<bool>());
}

TEST(AnchorFusion, ForwardIsDeterministic) {
  const Frame f = make_frame(true);
  FusionConfig cfg;
  torch::manual_seed(4);
  AnchorFusionNet net(cfg.anchor, kC);
  {  // non-zero heads, so the check covers the refinement path
    torch::NoGradGuard ng;
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  net->eval();
  AnchorFusion fuser(cfg, net);
  const auto a = fuser.fuse(f.ego(), f.peers, nullptr);
  const auto b = fuser.fuse(f.ego(), f.peers, nullptr);
  ASSERT_EQ(a.detections.size(), b.detections.size());
  for (std::size_t i = 0; i < a.detections.size(); ++i) {
    EXPECT_EQ(a.detections[i].score, b.detections[i].score);
    EXPECT_EQ(a.detections[i].box.center, b.detections[i].box.center);
  }
}

TEST(AnchorFusion, UntrainedNetworkPassesMergedQueriesThrough) {
  const Frame f = make_frame(true);
  FusionConfig cfg;
  AnchorFusion fuser(cfg, AnchorFusionNet(cfg.anchor, kC));
  FusionStats st;
  const auto out = fuser.fuse(f.ego(), f.peers, &st);
  std::vector<Box3D> gt{car(8, 3), car(14, -4), car(20, 6), car(-10, 2), car(30, -8)};
  EXPECT_EQ(st.peers_used, 1);
  EXPECT_EQ(out.detections.size(), 5u);
  EXPECT_EQ(true_positives(out, gt, 0.7), 5);
}

TEST(AnchorFusion, MergedQueryKeepsTheMostConfidentSourcesBox) {
  Frame f = make_frame(true);
  // The ego's view of the car at (20, 6) is poor: a shifted, low-score proposal; the peer's (score 0.9) is exact.
  f.proposals[2] = SparseAnchor{car(20.9, 6.6), 0.2f, std::vector<float>(kC, 0.5f)};
  // ... the car at (8, 3) the ego sees better (0.95) than the peer, whose box is shifted (pose error, age);
  // the car at (14, -4) the ego sees confidently enough (0.8 ≥ ego_box_score_min) though the peer scores higher.
  f.proposals[0].score = 0.95f;
  const Pose T_world_peer = planar_pose(25, 3, 0, 0.5);
  f.peers[0].msg.anchors[0].box = car(8.8, 3.5).transformed(T_world_peer.inverse());
  f.peers[0].msg.anchors[1].box = car(14.7, -3.5).transformed(T_world_peer.inverse());
  f.peers[0].msg.anchors[1].score = 0.99f;
  FusionConfig cfg;
  FusionStats st;
  const auto aligned = align_peers(f.ego(), f.peers, cfg.align, requirements_from(f.ego()), &st);
  ASSERT_EQ(aligned.size(), 1u);
  const auto q = build_anchor_queries(f.ego(), aligned, cfg);
  ASSERT_EQ(q.num_queries(), 5);
  EXPECT_NEAR(q.q_box[2][0].item<float>(), 20.f, 1e-3);  // the peer's box
  EXPECT_NEAR(q.q_box[2][1].item<float>(), 6.f, 1e-3);
  EXPECT_NEAR(q.q_score[2].item<float>(), 0.9f, 1e-6);
  EXPECT_NEAR(q.q_box[0][0].item<float>(), 8.f, 1e-3);  // the ego's box
  EXPECT_NEAR(q.q_score[0].item<float>(), 0.95f, 1e-6);
  EXPECT_NEAR(q.q_box[1][0].item<float>(), 14.f, 1e-3);  // the ego's box, the peer's score
  EXPECT_NEAR(q.q_score[1].item<float>(), 0.99f, 1e-6);
}

TEST(AnchorFusion, ExactPeerCompetesOnScoreAloneAgainstTheEgosConfidentBox) {
  // The car at (14, -4): the ego proposes it at 0.8 (≥ ego_box_score_min), the peer at 0.99 with a box 0.7 m off.
  Frame f = make_frame(true);
  const Pose T_world_peer = planar_pose(25, 3, 0, 0.5);
  f.peers[0].msg.anchors[1].box = car(14.7, -3.5).transformed(T_world_peer.inverse());
  f.peers[0].msg.anchors[1].score = 0.99f;
  f.peers[0].age_ns = 0;  // same-frame message
  auto box_x = [&](const FusionConfig& cfg) {
    FusionStats st;
    const auto aligned = align_peers(f.ego(), f.peers, cfg.align, requirements_from(f.ego()), &st);
    EXPECT_EQ(aligned.size(), 1u);
    return build_anchor_queries(f.ego(), aligned, cfg).q_box[1][0].item<float>();
  };
  FusionConfig cfg;  // default: senders' poses uncertain (σ 0.2 m / 0.2°): the ego's box is kept
  EXPECT_NEAR(box_x(cfg), 14.f, 1e-3);
  cfg.align.pose_sigma_m = cfg.align.rsu_pose_sigma_m = cfg.align.pose_sigma_yaw_deg = 0;  // exact poses
  EXPECT_NEAR(box_x(cfg), 14.7f, 1e-3);  // the more confident peer box wins
  cfg.anchor.exact_peer_max_age_ms = -1;  // no peer is exact
  EXPECT_NEAR(box_x(cfg), 14.f, 1e-3);
  cfg.anchor.exact_peer_max_age_ms = 50;
  f.peers[0].age_ns = 100'000'000;  // a 100 ms old message: the objects have moved
  EXPECT_NEAR(box_x(cfg), 14.f, 1e-3);
}

TEST(AnchorFusion, InjectedBadPeerNeverMakesTheResultWorseThanNoFusion) {
  Frame f = make_frame(true);
  f.peers[0].msg.T_world_lidar = f.peers[0].msg.T_world_lidar * planar_pose(20, 0, 0, 0);
  FusionConfig cfg;
  AnchorFusion fuser(cfg, AnchorFusionNet(cfg.anchor, kC));
  FusionStats st;
  const auto bad = fuser.fuse(f.ego(), f.peers, &st);
  const auto alone = fuser.fuse(f.ego(), {}, nullptr);
  EXPECT_EQ(st.peers_down_weighted, 1);
  std::vector<Box3D> gt{car(8, 3), car(14, -4), car(20, 6), car(-10, 2), car(30, -8)};
  EXPECT_GE(true_positives(bad, gt, 0.7), true_positives(alone, gt, 0.7));
  EXPECT_EQ(bad.detections.size(), alone.detections.size());
}

TEST(AnchorFusion, NoQueriesGiveNoDetections) {
  FeatureMap m = indexed_map(grid(), kC);
  std::vector<SparseAnchor> none;
  EgoInput ego;
  ego.features = &m;
  ego.proposals = &none;
  FusionConfig cfg;
  AnchorFusion fuser(cfg, AnchorFusionNet(cfg.anchor, kC));
  EXPECT_TRUE(fuser.fuse(ego, {}, nullptr).detections.empty());
}

TEST(AnchorFusion, WeightsRoundTripAndMismatchedManifestIsRefused) {
  FusionConfig cfg;
  torch::manual_seed(9);
  AnchorFusionNet net(cfg.anchor, kC);
  AttnFusion attn(kC);
  const std::string dir = (std::filesystem::temp_directory_path() / "v2x_fusion_test_model").string();
  std::filesystem::remove_all(dir);
  save_fusion_model(dir, net, &attn, cfg.anchor, kC, grid(), nlohmann::json{{"name", "test"}});
  const auto loaded = load_anchor_fusion(dir, cfg.anchor, kC, grid());
  const auto p1 = net->parameters(), p2 = loaded->parameters();
  ASSERT_EQ(p1.size(), p2.size());
  for (std::size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(torch::equal(p1[i], p2[i]));
  AnchorFusionConfig other = cfg.anchor;
  other.dim = 32;
  try {
    load_anchor_fusion(dir, other, kC, grid());
    FAIL() << "mismatched architecture accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("dim"), std::string::npos) << e.what();
  }
  FuserResources r;
  r.model_dir = dir;
  EXPECT_EQ(make_fuser(FusionMethod::Anchor, cfg, r)->method(), FusionMethod::Anchor);
  std::filesystem::remove_all(dir);
}

TEST(AnchorFusion, ShippedWeightsLoadThroughTheFactory) {
  const std::string dir = "data/models/anchor_fusion";
  if (!std::filesystem::exists(dir + "/manifest.json")) GTEST_SKIP() << "no shipped fusion model";
  FusionConfig cfg;
  FuserResources r;
  r.model_dir = dir;
  auto f = make_fuser(FusionMethod::Anchor, cfg, r);
  EXPECT_EQ(f->method(), FusionMethod::Anchor);
  const auto m = read_manifest(dir);
  const auto g = m["architecture"]["grid"];
  const BevGrid grid{g[0].get<double>(), g[1].get<double>(), g[2].get<double>(), g[3].get<double>(), g[4].get<double>()};
  EXPECT_NO_THROW(load_attn_fusion(dir, cfg.anchor, m["architecture"]["channels"].get<int>(), grid));
}
