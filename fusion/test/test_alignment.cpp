#include <gtest/gtest.h>

#include <cmath>

#include "test_util.hpp"
#include "v2x/fusion/alignment.hpp"

using namespace v2x;
using namespace v2x::fusion;
using namespace v2x::fusion::test;

namespace {
BevGrid small_grid() { return BevGrid{-20, 20, -10, 10, 1.0}; }
}  // namespace

TEST(Alignment, PeerBoxLandsAtEgoCoordinates) {
  const Pose T_world_ego = planar_pose(10, 0, 0, M_PI / 2);  // ego at (10, 0) facing +y
  const Pose T_world_peer = planar_pose(10, 20, 0, 0.0);    // peer 20 m ahead of the ego, facing +x
  const Pose T_ego_peer = relative_pose(T_world_ego, T_world_peer);
  const auto a = anchors_to_ego({SparseAnchor{car(5, 0, 0.3), 0.9f, {}}}, T_ego_peer);
  // World (15, 20): relative to the ego (5, 20); the ego's x axis is world +y, its y axis world −x.
  EXPECT_NEAR(a[0].box.center.x(), 20.0, 1e-9);
  EXPECT_NEAR(a[0].box.center.y(), -5.0, 1e-9);
  EXPECT_NEAR(a[0].box.center.z(), -1.0, 1e-9);
  EXPECT_NEAR(a[0].box.yaw_rad, 0.3 - M_PI / 2, 1e-9);
  EXPECT_NEAR(a[0].box.l_m, 4.0, 1e-12);
}

TEST(Alignment, RelativePoseIsEgoInverseTimesPeer) {
  const Pose a = planar_pose(3, -4, 1, 0.7), b = planar_pose(-8, 2, 2, -1.1);
  const Pose r = relative_pose(a, b);
  EXPECT_TRUE((a * r).matrix().isApprox(b.matrix(), 1e-12));
}

TEST(Alignment, StaleMessagesAreDroppedAndCounted) {
  EgoInput ego;
  AlignmentConfig cfg;
  cfg.max_age_ms = 200;
  std::vector<PeerInput> peers{peer_with_boxes(Pose::Identity(), {}, small_grid(), 0.9f, 150 * kNsPerMs),
                               peer_with_boxes(Pose::Identity(), {}, small_grid(), 0.9f, 250 * kNsPerMs),
                               peer_with_boxes(Pose::Identity(), {}, small_grid(), 0.9f, -5 * kNsPerMs)};
  FusionStats st;
  const auto used = align_peers(ego, peers, cfg, {}, &st);
  EXPECT_EQ(used.size(), 1u);
  EXPECT_EQ(st.peers_dropped_stale, 2);
  EXPECT_EQ(st.peers_used, 1);
}

TEST(Alignment, MessagesForAnotherGridOrChannelCountAreDroppedAndCounted) {
  const BevGrid g = small_grid();
  FeatureMap ego_map = indexed_map(g, 4);
  EgoInput ego;
  ego.features = &ego_map;
  PeerInput same;
  same.msg = all_cells(indexed_map(g, 4), Pose::Identity());
  PeerInput other_grid;
  other_grid.msg = all_cells(indexed_map(BevGrid{-20, 20, -10, 10, 0.5}, 4), Pose::Identity());
  PeerInput other_channels;
  other_channels.msg = all_cells(indexed_map(g, 3), Pose::Identity());
  FusionStats st;
  const auto used = align_peers(ego, {same, other_grid, other_channels}, AlignmentConfig{}, requirements_from(ego), &st);
  EXPECT_EQ(used.size(), 1u);
  EXPECT_EQ(st.peers_dropped_grid, 2);
}

TEST(Alignment, PeerWithPoseTwentyMetresOffIsDroppedAndCounted) {
  const std::vector<Box3D> world{car(8, 3), car(15, -4), car(20, 6), car(-6, 5)};
  const Pose T_world_ego = planar_pose(0, 0, 0, 0);
  const Pose T_world_peer = planar_pose(12, 2, 0, 0.4);
  DetectionList local = dets(world);
  EgoInput ego;
  ego.T_world_lidar = T_world_ego;
  ego.local = &local;
  std::vector<Box3D> in_peer;
  for (const auto& b : world) in_peer.push_back(b.transformed(T_world_peer.inverse()));
  // Same content, believed pose 20 m off.
  const Pose bad = planar_pose(32, 2, 0, 0.4);
  std::vector<PeerInput> peers{peer_with_boxes(T_world_peer, in_peer, small_grid()),
                               peer_with_boxes(bad, in_peer, small_grid())};
  FusionStats st;
  const auto used = align_peers(ego, peers, AlignmentConfig{}, {}, &st);
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0].input, &peers[0]);
  EXPECT_EQ(st.peers_down_weighted, 1);
}

TEST(Alignment, PeerWithDefaultPoseNoiseAndAgeIsKept) {
  const std::vector<Box3D> world{car(8, 3), car(15, -4), car(20, 6), car(-6, 5)};
  const Pose T_world_peer = planar_pose(12, 2, 0, 0.4);
  DetectionList local = dets(world);
  EgoInput ego;
  ego.local = &local;
  std::vector<Box3D> in_peer;
  for (const auto& b : world) in_peer.push_back(b.transformed(T_world_peer.inverse()));
  Rng rng(3);
  int kept = 0;
  for (int i = 0; i < 50; ++i) {
    const Pose noisy = perturb_pose(T_world_peer, 0.2, 0.2, rng);
    const auto used = align_peers(ego, {peer_with_boxes(noisy, in_peer, small_grid(), 0.9f, 100 * kNsPerMs)},
                                  AlignmentConfig{}, {}, nullptr);
    kept += static_cast<int>(used.size());
  }
  EXPECT_EQ(kept, 50);
}

TEST(Alignment, PerturbPoseIsSeededAndHasTheRequestedSpread) {
  Rng a(11), b(11);
  const Pose T = planar_pose(1, 2, 3, 0.5);
  EXPECT_TRUE(perturb_pose(T, 0.2, 0.2, a).matrix().isApprox(perturb_pose(T, 0.2, 0.2, b).matrix()));
  double sx = 0, syaw = 0;
  const int n = 4000;
  Rng r(5);
  for (int i = 0; i < n; ++i) {
    const Pose p = perturb_pose(T, 0.2, 0.2, r);
    sx += std::pow(p.translation().x() - 1, 2);
    syaw += std::pow(wrap_angle(yaw_of(p) - 0.5), 2);
    EXPECT_NEAR(p.translation().z(), 3.0, 1e-12);
  }
  EXPECT_NEAR(std::sqrt(sx / n), 0.2, 0.015);
  EXPECT_NEAR(std::sqrt(syaw / n), deg_to_rad(0.2), deg_to_rad(0.015));
}

TEST(Warp, IdentityPoseReproducesTheCells) {
  const BevGrid g = small_grid();
  const FeatureMap m = indexed_map(g, 3);
  for (WarpMode mode : {WarpMode::Nearest, WarpMode::Bilinear}) {
    const WarpedMap w = warp_cells_to_ego(all_cells(m, Pose::Identity()), Pose::Identity(), g, mode);
    ASSERT_EQ(w.data.size(), m.data.size());
    for (std::size_t i = 0; i < m.data.size(); ++i) ASSERT_NEAR(w.data[i], m.data[i], 1e-5);
    for (auto v : w.mask) ASSERT_EQ(v, 1);
  }
}

TEST(Warp, ShiftByOneCellMovesTheMapAndMasksTheUncoveredColumn) {
  const BevGrid g = small_grid();
  const FeatureMap m = indexed_map(g, 2);
  // Peer origin 1 m (one cell) ahead of the ego: peer cell ix appears at ego cell ix + 1.
  const WarpedMap w = warp_cells_to_ego(all_cells(m, Pose::Identity()), planar_pose(1, 0, 0, 0), g, WarpMode::Nearest);
  const int W = m.width;
  for (int y = 0; y < m.height; ++y) {
    EXPECT_EQ(w.mask[y * W + 0], 0);
    for (int x = 1; x < W; ++x) {
      ASSERT_EQ(w.mask[y * W + x], 1);
      ASSERT_FLOAT_EQ(w.data[1 * m.cells() + y * W + x], m.at(1, y, x - 1));
    }
  }
}

TEST(Warp, OnlyReceivedCellsAreMarked) {
  const BevGrid g = small_grid();
  const FeatureMap m = indexed_map(g, 2);
  SparseFeatures f = all_cells(m, Pose::Identity());
  f.cell_indices = {5, 17};
  f.values = {m.data[5], m.data[m.cells() + 5], m.data[17], m.data[m.cells() + 17]};
  const WarpedMap w = warp_cells_to_ego(f, Pose::Identity(), g, WarpMode::Nearest);
  int n = 0;
  for (auto v : w.mask) n += v;
  EXPECT_EQ(n, 2);
  EXPECT_EQ(w.mask[5], 1);
  EXPECT_EQ(w.mask[17], 1);
}
