#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "v2x/core/rng.hpp"
#include "v2x/selection/selection_config.hpp"

using namespace v2x;
using namespace v2x::selection;

namespace {

FeatureMap random_map(Rng& rng, int C, int H, int W) {
  FeatureMap m(C, H, W);
  m.grid = BevGrid{0, W * 0.5, 0, H * 0.5, 0.5};
  for (auto& v : m.data) v = rng.bernoulli(0.3) ? static_cast<float>(rng.uniform()) : 0.f;
  m.confidence.resize(m.cells());
  for (auto& c : m.confidence) c = static_cast<float>(rng.uniform());
  return m;
}

std::vector<SparseAnchor> random_anchors(Rng& rng, int n, int dim) {
  std::vector<SparseAnchor> a(static_cast<std::size_t>(n));
  for (auto& x : a) {
    x.score = static_cast<float>(rng.uniform());
    x.feature.assign(static_cast<std::size_t>(dim), 0.5f);
  }
  return a;
}

std::vector<std::unique_ptr<Selector>> all_selectors(const BudgetConfig& b) {
  std::vector<std::unique_ptr<Selector>> s;
  for (int k = 0; k < 6; ++k) {
    SelectionConfig cfg;
    cfg.kind = static_cast<SelectorKind>(k);
    cfg.budget = b;
    cfg.top_k.k = 500;
    cfg.random_k.k = 700;
    s.push_back(make_selector(cfg));
  }
  return s;
}

}  // namespace

TEST(Selectors, NeverExceedTheBudgetOnRandomMaps) {
  Rng rng(17);
  for (int trial = 0; trial < 40; ++trial) {
    BudgetConfig b;
    b.budget_bytes = rng.uniform_int(256, 40000);
    b.quant = static_cast<Quantization>(trial % 4);
    b.max_anchors = rng.uniform_int(0, 20);
    const int C = rng.uniform_int(1, 64), H = rng.uniform_int(8, 100), W = rng.uniform_int(8, 100);
    const auto anchors = random_anchors(rng, rng.uniform_int(0, 30), rng.uniform_int(0, 32));
    auto sels = all_selectors(b);
    std::vector<std::uint8_t> request(static_cast<std::size_t>(H) * W);
    for (auto& r : request) r = rng.bernoulli(0.2);
    for (int frame = 0; frame < 3; ++frame) {
      const FeatureMap m = random_map(rng, C, H, W);
      SelectionInput in{&m, planar_pose(frame * 0.3, 0, 0, 0), anchors, &request};
      for (auto& s : sels) {
        const SelectionResult r = s->select(in);
        ASSERT_TRUE(r.fits);
        EXPECT_LE(r.bytes, static_cast<std::size_t>(b.budget_bytes)) << s->name();
        EXPECT_EQ(r.bytes, encoded_size_upper_bound(r.cells.size(), C, b.quant, m.grid.num_cells(), r.anchors.size(),
                                                    anchors.empty() ? 0 : static_cast<int>(anchors[0].feature.size())));
        EXPECT_TRUE(std::is_sorted(r.cells.begin(), r.cells.end()));
        EXPECT_TRUE(std::adjacent_find(r.cells.begin(), r.cells.end()) == r.cells.end());
        EXPECT_LE(r.anchors.size(), static_cast<std::size_t>(b.max_anchors));
        for (auto c : r.cells) EXPECT_LT(c, m.cells());
      }
    }
  }
}

TEST(Selectors, ABudgetBelowTheEmptyMessageChoosesNothing) {
  Rng rng(1);
  FeatureMap m = random_map(rng, 8, 10, 10);
  BudgetConfig b;
  b.budget_bytes = 256;
  const auto anchors = random_anchors(rng, 2, 1024);  // a 1024-float anchor never fits 256 bytes
  SendAllSelector s(b);
  const auto r = s.select({&m, Pose::Identity(), anchors});
  EXPECT_TRUE(r.anchors.empty());
  EXPECT_LE(r.bytes, 256u);
}

TEST(Selectors, SendAllWithAmpleBudgetSendsEveryCellAndSendNothingNone) {
  Rng rng(2);
  FeatureMap m = random_map(rng, 4, 20, 20);
  BudgetConfig b;
  b.budget_bytes = 1 << 20;
  EXPECT_EQ(SendAllSelector(b).select({&m}).cells.size(), 400u);
  const auto none = SendNothingSelector(b).select({&m});
  EXPECT_TRUE(none.cells.empty());
  EXPECT_EQ(none.bytes, encoded_size_upper_bound(0, 4, b.quant, 400));
}

TEST(Selectors, TopKTakesTheMostConfidentCellsAboveTheThreshold) {
  Rng rng(3);
  FeatureMap m = random_map(rng, 4, 20, 20);
  BudgetConfig b;
  b.budget_bytes = 1 << 20;
  const auto r = TopKSelector(b, TopKConfig{50, 0.0}).select({&m});
  ASSERT_EQ(r.cells.size(), 50u);
  std::vector<float> conf = m.confidence;
  std::sort(conf.rbegin(), conf.rend());
  for (auto c : r.cells) EXPECT_GE(m.confidence[c], conf[49]);
  const auto t = TopKSelector(b, TopKConfig{400, 0.9}).select({&m});
  for (auto c : t.cells) EXPECT_GE(m.confidence[c], 0.9f);
  EXPECT_EQ(t.cells.size(), static_cast<std::size_t>(std::count_if(conf.begin(), conf.end(), [](float c) { return c >= 0.9f; })));
}

TEST(Selectors, TightBudgetKeepsTheHighestPriorityCells) {
  Rng rng(4);
  FeatureMap m = random_map(rng, 16, 30, 30);
  BudgetConfig b;
  b.budget_bytes = 1500;
  const auto r = SendAllSelector(b).select({&m});
  ASSERT_GT(r.cells.size(), 0u);
  ASSERT_LT(r.cells.size(), 900u);
  const auto order = cells_by_confidence(m);
  const std::set<std::uint32_t> top(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(r.cells.size()));
  for (auto c : r.cells) EXPECT_TRUE(top.count(c));
}

TEST(Selectors, RandomKIsSeededAndRedrawsEachFrame) {
  Rng rng(5);
  FeatureMap m = random_map(rng, 4, 20, 20);
  BudgetConfig b;
  b.budget_bytes = 1 << 20;
  RandomKSelector a(b, {30, 9}), c(b, {30, 9}), d(b, {30, 10});
  const auto a1 = a.select({&m}), a2 = a.select({&m});
  EXPECT_EQ(a1.cells.size(), 30u);
  EXPECT_EQ(a1.cells, c.select({&m}).cells);
  EXPECT_NE(a1.cells, a2.cells);
  EXPECT_NE(a1.cells, d.select({&m}).cells);
}

TEST(Selectors, RequestedCellsComeFirst) {
  Rng rng(6);
  FeatureMap m = random_map(rng, 8, 20, 20);
  std::vector<std::uint8_t> req(400, 0);
  for (int i = 0; i < 400; i += 7) req[static_cast<std::size_t>(i)] = 1;  // 58 cells
  BudgetConfig b;
  b.budget_bytes = static_cast<int>(encoded_size_upper_bound(40, 8, b.quant, 400));
  const auto r = RequestSelector(b, {}).select({&m, Pose::Identity(), {}, &req});
  EXPECT_EQ(r.cells.size(), 40u);
  for (auto c : r.cells) EXPECT_EQ(req[c], 1);
  RequestConfig only;
  only.fill_with_confidence = false;
  b.budget_bytes = 1 << 20;
  EXPECT_EQ(RequestSelector(b, only).select({&m, Pose::Identity(), {}, &req}).cells.size(), 58u);
}

TEST(Requests, RoundTripThroughSparseFeaturesAndWarpBetweenFrames) {
  FeatureMap ego(1, 10, 10);
  ego.grid = BevGrid{0, 5, 0, 5, 0.5};
  ego.agent = 3;
  ego.confidence.assign(100, 0.9f);
  ego.confidence[2 * 10 + 4] = 0.1f;  // unsure at cell (x=4, y=2)
  const Pose T_ego = planar_pose(100, 50, 0, 0);
  const RequestMap req = make_request_map(ego, T_ego, 0.3);
  const auto sparse = request_to_sparse(req, 5);
  ASSERT_EQ(sparse.cell_indices, std::vector<std::uint32_t>{24});
  const RequestMap back = request_from_sparse(sparse);
  EXPECT_EQ(back.mask, req.mask);
  // A sender 1 m further along +x sees that cell two columns to the left.
  const auto warped = warp_request(back, planar_pose(101, 50, 0, 0), ego.grid, 10, 10);
  std::vector<std::uint8_t> expect(100, 0);
  expect[2 * 10 + 2] = 1;
  EXPECT_EQ(warped, expect);
}

TEST(SelectionConfig, RejectsOutOfRangeValues) {
  SelectionConfig cfg;
  cfg.conformal.alpha = 0.9;
  EXPECT_THROW(make_selector(cfg), ConfigError);
  cfg = SelectionConfig{};
  cfg.budget.budget_bytes = 10;
  EXPECT_THROW(make_selector(cfg), ConfigError);
}
