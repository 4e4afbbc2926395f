#include <gtest/gtest.h>

#include <cmath>

#include "test_util.hpp"
#include "v2x/fusion/fusers.hpp"

using namespace v2x;
using namespace v2x::fusion;
using namespace v2x::fusion::test;

namespace {

BevGrid grid() { return BevGrid{-40, 40, -20, 20, 1.0}; }

// A stand-in detector: perceive() reports a car at every point of intensity 1 (a marker); detect_map() a car at
// every cell whose channel 0 exceeds 0.5. Enough to check what the fusers feed it.
class FakeDetector final : public DetectorRuntime {
 public:
  explicit FakeDetector(int channels) : grid_(grid()), channels_(channels) {}
  const BevGrid& feature_grid() const override { return grid_; }
  int channels() const override { return channels_; }
  AgentPerception perceive(const PointCloud& cloud, AgentId agent, TimestampNs stamp) override {
    AgentPerception p;
    p.local.agent = agent;
    p.local.stamp_ns = stamp;
    for (std::size_t i = 0; i < cloud.size(); ++i)
      if (cloud.intensity[i] == 1.f) p.local.detections.push_back(Detection{car(cloud.x[i], cloud.y[i]), 0.8f});
    return p;
  }
  DetectionList detect_map(const torch::Tensor& map, const detection::DecodeConfig&, AgentId agent,
                           TimestampNs stamp) override {
    last_map = map.clone();
    DetectionList d;
    d.agent = agent;
    d.stamp_ns = stamp;
    const auto m = map[0][0].contiguous();
    for (int y = 0; y < m.size(0); ++y)
      for (int x = 0; x < m.size(1); ++x)
        if (m[y][x].item<float>() > 0.5f)
          d.detections.push_back(Detection{car(grid_.cell_center_x(x), grid_.cell_center_y(y)), 0.7f});
    return d;
  }
  torch::Tensor last_map;

 private:
  BevGrid grid_;
  int channels_;
};

struct Scene {
  // Ego at the world origin; the peer 25 m ahead, turned by 0.5 rad. GT: three cars both see, one only the peer sees.
  Pose T_world_ego = planar_pose(0, 0, 0, 0);
  Pose T_world_peer = planar_pose(25, 3, 0, 0.5);
  std::vector<Box3D> shared{car(8, 3), car(14, -4), car(20, 6)};
  Box3D hidden = car(30, -8, 0.2);
  std::vector<Box3D> gt() const {
    auto g = shared;
    g.push_back(hidden);
    return g;
  }
  std::vector<Box3D> in_peer(const std::vector<Box3D>& world) const {
    std::vector<Box3D> o;
    for (const auto& b : world) o.push_back(b.transformed(T_world_peer.inverse()));
    return o;
  }
};

}  // namespace

TEST(NoFusion, ReturnsTheEgoDetections) {
  const Scene s;
  DetectionList local = dets(s.shared);
  EgoInput ego;
  ego.id = 3;
  ego.local = &local;
  NoFusion f;
  const auto out = f.fuse(ego, {peer_with_boxes(s.T_world_peer, s.in_peer(s.gt()), grid())}, nullptr);
  EXPECT_EQ(out.detections.size(), 3u);
  EXPECT_EQ(out.agent, 3);
}

TEST(LateFusion, RecoversABoxOnlyThePeerSees) {
  const Scene s;
  DetectionList local = dets(s.shared);
  EgoInput ego;
  ego.T_world_lidar = s.T_world_ego;
  ego.local = &local;
  LateFusion f(FusionConfig{});
  FusionStats st;
  const auto out = f.fuse(ego, {peer_with_boxes(s.T_world_peer, s.in_peer(s.gt()), grid())}, &st);
  EXPECT_EQ(st.peers_used, 1);
  EXPECT_EQ(out.detections.size(), 4u);  // duplicates of the shared cars suppressed by NMS
  EXPECT_EQ(true_positives(out, s.gt(), 0.7), 4);
  EXPECT_EQ(true_positives(NoFusion().fuse(ego, {}, nullptr), s.gt(), 0.7), 3);
}

TEST(LateFusion, LowScorePeerBoxesAreIgnored) {
  const Scene s;
  DetectionList local = dets(s.shared);
  EgoInput ego;
  ego.local = &local;
  FusionConfig cfg;
  cfg.late.score_min = 0.5;
  LateFusion f(cfg);
  const auto out = f.fuse(ego, {peer_with_boxes(s.T_world_peer, s.in_peer({s.hidden}), grid(), 0.3f)}, nullptr);
  EXPECT_EQ(out.detections.size(), 3u);
}

TEST(LateFusion, InjectedBadPeerNeverMakesTheResultWorseThanNoFusion) {
  const Scene s;
  DetectionList local = dets(s.shared);
  EgoInput ego;
  ego.local = &local;
  LateFusion f(FusionConfig{});
  const Pose bad = s.T_world_peer * planar_pose(20, 0, 0, 0);  // 20 m off along the peer's x axis
  FusionStats st;
  const auto out = f.fuse(ego, {peer_with_boxes(bad, s.in_peer(s.gt()), grid())}, &st);
  EXPECT_EQ(st.peers_down_weighted, 1);
  const auto none = NoFusion().fuse(ego, {}, nullptr);
  EXPECT_GE(true_positives(out, s.gt(), 0.7), true_positives(none, s.gt(), 0.7));
  EXPECT_LE(out.detections.size() - true_positives(out, s.gt(), 0.7),
            none.detections.size() - true_positives(none, s.gt(), 0.7));
  // A good and a bad peer together: the good one still helps.
  FusionStats st2;
  const auto both = f.fuse(ego, {peer_with_boxes(bad, s.in_peer(s.gt()), grid()),
                                  peer_with_boxes(s.T_world_peer, s.in_peer(s.gt()), grid())},
                           &st2);
  EXPECT_EQ(st2.peers_down_weighted, 1);
  EXPECT_EQ(st2.peers_used, 1);
  EXPECT_EQ(true_positives(both, s.gt(), 0.7), 4);
}

TEST(MaxFusion, IdenticalMapsFuseToTheMap) {
  const FeatureMap m = indexed_map(grid(), 3);
  AlignedPeer p;
  PeerInput in;
  in.msg = all_cells(m, Pose::Identity());
  p.input = &in;
  const auto s = stack_dense(m, {p, p}, WarpMode::Nearest);
  const auto fused = max_fuse(s);
  const auto ref = torch::from_blob(const_cast<float*>(m.data.data()), {1, 3, m.height, m.width});
  EXPECT_TRUE(torch::equal(fused, ref));
}

TEST(MaxFusion, TakesTheElementwiseMaxWhereCellsWereReceived) {
  FeatureMap ego_map(1, grid().height(), grid().width());
  ego_map.grid = grid();
  FeatureMap peer_map = ego_map;
  peer_map.at(0, 10, 30) = 1.0f;  // an object only the peer sees
  ego_map.at(0, 5, 5) = 0.9f;     // an object only the ego sees; the peer sends a 0 there
  auto det = std::make_shared<FakeDetector>(1);
  MaxFusion f(FusionConfig{}, det);
  EgoInput ego;
  ego.features = &ego_map;
  PeerInput peer;
  peer.msg = all_cells(peer_map, Pose::Identity());
  FusionStats st;
  const auto out = f.fuse(ego, {peer}, &st);
  EXPECT_EQ(st.peers_used, 1);
  ASSERT_EQ(out.detections.size(), 2u);
  EXPECT_FLOAT_EQ(det->last_map[0][0][10][30].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(det->last_map[0][0][5][5].item<float>(), 0.9f);
}

TEST(AttnFusion, UntrainedModuleKeepsIdenticalMapsAndIgnoresMaskedAgents) {
  const FeatureMap m = indexed_map(grid(), 3);
  AttnFusion net(3);
  DenseStack s;
  const auto ref = torch::from_blob(const_cast<float*>(m.data.data()), {3, m.height, m.width}).clone();
  s.maps = torch::stack({ref, ref, ref * 7.0});
  s.mask = torch::ones({3, m.height, m.width}, torch::kBool);
  s.mask[2].fill_(false);  // the third agent sent nothing: its (different) values must not leak in
  torch::NoGradGuard ng;
  const auto out = net->forward(s.maps, s.mask);
  EXPECT_TRUE(torch::allclose(out[0], ref, 1e-5, 1e-5));
}

TEST(EarlyFusion, PeerPointsAreMergedInTheEgoFrame) {
  const Scene s;
  auto det = std::make_shared<FakeDetector>(1);
  EarlyFusion f(FusionConfig{}, det);
  PointCloud ego_cloud;
  ego_cloud.push_back(8, 3, -1, 1.f);  // marker: the ego sees this car
  ego_cloud.push_back(2, 2, 0, 0.2f);
  PointCloud peer_cloud;
  const Eigen::Vector3d hidden_peer = s.T_world_peer.inverse() * s.hidden.center;
  peer_cloud.push_back(hidden_peer.x(), hidden_peer.y(), hidden_peer.z(), 1.f);
  EgoInput ego;
  ego.T_world_lidar = s.T_world_ego;
  ego.cloud = &ego_cloud;
  PeerInput peer = peer_with_boxes(s.T_world_peer, {}, grid());
  peer.points = peer_cloud;
  FusionStats st;
  const auto out = f.fuse(ego, {peer}, &st);
  ASSERT_EQ(out.detections.size(), 2u);
  EXPECT_EQ(st.peers_used, 1);
  EXPECT_NEAR(out.detections[1].box.center.x(), s.hidden.center.x(), 1e-4);
  EXPECT_NEAR(out.detections[1].box.center.y(), s.hidden.center.y(), 1e-4);
}

TEST(MakeFuser, BuildsEveryMethodOrSaysWhatIsMissing) {
  EXPECT_EQ(make_fuser(FusionMethod::None, FusionConfig{})->method(), FusionMethod::None);
  EXPECT_EQ(make_fuser(FusionMethod::Late, FusionConfig{})->method(), FusionMethod::Late);
  EXPECT_THROW(make_fuser(FusionMethod::Early, FusionConfig{}), std::runtime_error);
  EXPECT_THROW(make_fuser(FusionMethod::Max, FusionConfig{}), std::runtime_error);
  FuserResources r;
  r.detector = std::make_shared<FakeDetector>(4);
  EXPECT_EQ(make_fuser(FusionMethod::Max, FusionConfig{}, r)->method(), FusionMethod::Max);
  EXPECT_EQ(make_fuser(FusionMethod::Early, FusionConfig{}, r)->method(), FusionMethod::Early);
  EXPECT_THROW(make_fuser(FusionMethod::Attn, FusionConfig{}, r), std::runtime_error);  // no weights folder
  r.model_dir = "/nonexistent/fusion_model";
  EXPECT_THROW(make_fuser(FusionMethod::Anchor, FusionConfig{}, r), std::runtime_error);
}

TEST(CameraPeerGate, CameraOnlyPeersAddOnlyUnseenBoxesRankedBelowEveryOther) {
  const Scene s;
  DetectionList local = dets(s.shared, 0.9f);  // the ego sees the three shared cars
  EgoInput ego;
  ego.local = &local;
  ego.T_world_lidar = s.T_world_ego;
  // A camera-only peer reports all four cars (0.6): only the hidden one is new.
  PeerInput cam = peer_with_boxes(s.T_world_peer, s.in_peer(s.gt()), grid(), 0.6f);
  cam.msg.sender = 9;
  cam.msg.modality = kModalityCamera;
  FusionConfig cfg;
  cfg.output.score_threshold = 0.2;
  auto fuser = make_fuser(FusionMethod::Late, cfg);
  FusionStats st;
  const auto out = fuser->fuse(ego, {cam}, &st);
  ASSERT_EQ(out.detections.size(), 4u);
  float lowest_lidar = 1.f;
  for (std::size_t i = 0; i < 3; ++i) lowest_lidar = std::min(lowest_lidar, out.detections[i].score);
  EXPECT_NEAR(out.detections[3].score, 0.6f * 0.2f, 1e-6);
  EXPECT_LT(out.detections[3].score, lowest_lidar);
  EXPECT_NEAR(out.detections[3].box.center.x(), s.hidden.center.x(), 1e-6);
  EXPECT_EQ(st.peers_used, 1);

  // The same message marked LiDAR goes through late fusion proper (its own score, NMS with the ego's boxes).
  PeerInput lidar = cam;
  lidar.msg.modality = kModalityLidar;
  const auto late = fuser->fuse(ego, {lidar}, nullptr);
  ASSERT_EQ(late.detections.size(), 4u);
  EXPECT_NEAR(late.detections[3].score, 0.6f, 1e-6);

  // Below score_min, or switched off: nothing from the camera peer.
  cfg.camera_peers.score_min = 0.7;
  EXPECT_EQ(make_fuser(FusionMethod::Late, cfg)->fuse(ego, {cam}, nullptr).detections.size(), 3u);
  cfg.camera_peers.score_min = 0.3;
  cfg.camera_peers.use_boxes = false;
  EXPECT_EQ(make_fuser(FusionMethod::Late, cfg)->fuse(ego, {cam}, nullptr).detections.size(), 3u);
}
