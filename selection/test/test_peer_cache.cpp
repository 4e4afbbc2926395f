#include <gtest/gtest.h>

#include "v2x/selection/peer_cell_cache.hpp"

using namespace v2x;
using namespace v2x::selection;

namespace {
SparseFeatures msg(AgentId peer, TimestampNs t_ns, std::vector<std::uint32_t> cells, float value, double x_m = 0) {
  SparseFeatures f;
  f.sender = peer;
  f.stamp_ns = t_ns;
  f.grid = BevGrid{-5, 5, -5, 5, 1.0};  // 10 × 10
  f.channels = 2;
  f.T_world_lidar = planar_pose(x_m, 0, 0, 0);
  f.cell_indices = std::move(cells);
  f.values.assign(f.cell_indices.size() * 2, value);
  return f;
}
constexpr TimestampNs kMs = 1'000'000;
}  // namespace

TEST(PeerCellCache, KeepsCellsThatAreNotResentAndOverwritesNewerOnes) {
  PeerCellCache cache({500});
  ASSERT_TRUE(cache.update(msg(7, 0, {1, 2, 3}, 1.f)));
  ASSERT_TRUE(cache.update(msg(7, 100 * kMs, {3, 4}, 2.f)));
  auto v = cache.view(7, 100 * kMs);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->features.cell_indices, (std::vector<std::uint32_t>{1, 2, 3, 4}));
  EXPECT_EQ(v->features.values, (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2}));
  EXPECT_EQ(v->cell_stamp_ns, (std::vector<TimestampNs>{0, 0, 100 * kMs, 100 * kMs}));
  EXPECT_EQ(v->features.stamp_ns, 100 * kMs);
}

TEST(PeerCellCache, AgesCellsOut) {
  PeerCellCache cache({500});
  cache.update(msg(7, 0, {1, 2}, 1.f));
  cache.update(msg(7, 400 * kMs, {3}, 2.f));
  EXPECT_EQ(cache.view(7, 600 * kMs)->features.cell_indices, std::vector<std::uint32_t>{3});  // view filters
  cache.expire(600 * kMs);
  EXPECT_EQ(cache.cells(7), 1u);
  cache.expire(2000 * kMs);
  EXPECT_EQ(cache.cells(7), 0u);
  EXPECT_TRUE(cache.peers().empty());
  EXPECT_FALSE(cache.view(7, 2000 * kMs).has_value());
}

TEST(PeerCellCache, RebinsCachedCellsWhenThePeerMoves) {
  PeerCellCache cache({1000});
  cache.update(msg(7, 0, {5 * 10 + 5}, 1.f, 0.0));  // cell (x=5, y=5): centre (0.5, 0.5)
  cache.update(msg(7, 100 * kMs, {0}, 2.f, 2.0));   // the peer moved +2 m in x
  const auto v = cache.view(7, 100 * kMs);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->features.cell_indices, (std::vector<std::uint32_t>{0, 5 * 10 + 3}));  // same world point: x − 2 cells
  cache.update(msg(7, 200 * kMs, {}, 0.f, 20.0));  // moved out of range: old cells leave the grid
  EXPECT_EQ(cache.cells(7), 0u);
}

TEST(PeerCellCache, IgnoresOlderMessagesAndResetsOnAGridChange) {
  PeerCellCache cache;
  cache.update(msg(7, 100 * kMs, {1}, 1.f));
  EXPECT_FALSE(cache.update(msg(7, 50 * kMs, {2}, 1.f)));
  EXPECT_EQ(cache.cells(7), 1u);
  auto other = msg(7, 150 * kMs, {9}, 3.f);
  other.grid.cell_m = 0.5;
  other.grid.x_max_m = 0;  // another 10 × 20 grid
  ASSERT_TRUE(cache.update(other));
  EXPECT_EQ(cache.view(7, 150 * kMs)->features.cell_indices, std::vector<std::uint32_t>{9});
}
