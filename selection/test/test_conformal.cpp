#include <gtest/gtest.h>

#include "v2x/selection/conformal_selector.hpp"
#include "v2x/selection/synthetic_scene.hpp"

using namespace v2x;
using namespace v2x::selection;

namespace {
// Cells sent per frame over frames [1, n) (frame 0 sends the whole scene once).
std::vector<std::size_t> run(const SyntheticSceneConfig& sc, ConformalConfig cc, int n, BudgetConfig b = {}) {
  b.budget_bytes = 1 << 24;  // unconstrained: measure what the selector wants
  SyntheticScene scene(sc);
  ConformalTemporalSelector sel(b, cc);
  std::vector<std::size_t> sent;
  for (int k = 0; k < n; ++k) {
    Pose T;
    const FeatureMap m = scene.frame(k, &T);
    sent.push_back(sel.select({&m, T}).cells.size());
  }
  return sent;
}
}  // namespace

TEST(ConformalSelector, SendsFewerCellsOnAStaticSceneThanADynamicOne) {
  SyntheticSceneConfig stat;
  stat.car_speed_mps = 0.0;
  SyntheticSceneConfig dyn = stat;
  dyn.car_speed_mps = 12.0;
  ConformalConfig cc;
  cc.refresh_period_frames = 1000;
  const auto s = run(stat, cc, 15), d = run(dyn, cc, 15);
  std::size_t s_sum = 0, d_sum = 0;
  for (int k = 3; k < 15; ++k) s_sum += s[static_cast<std::size_t>(k)], d_sum += d[static_cast<std::size_t>(k)];
  EXPECT_GT(s[0], 500u);  // first frame: everything non-empty is new
  // Static: ~α of the background re-sent by chance plus new territory at the front; dynamic: every moving car.
  EXPECT_LT(static_cast<double>(s_sum) * 1.15, static_cast<double>(d_sum)) << "static " << s_sum << " dynamic " << d_sum;
}

TEST(ConformalSelector, StaticCellsAreNotResentUntilTheirRefresh) {
  SyntheticSceneConfig sc;
  sc.ego_speed_mps = 0.0;
  sc.noise = 0.0;  // exactly static: nothing changes
  ConformalConfig cc;
  cc.refresh_period_frames = 5;
  const auto sent = run(sc, cc, 12);
  ASSERT_GT(sent[0], 0u);
  for (int k = 1; k < 5; ++k) EXPECT_EQ(sent[static_cast<std::size_t>(k)], 0u) << k;
  EXPECT_EQ(sent[5], sent[0]);  // everything refreshed at once
  EXPECT_EQ(sent[6], 0u);
  EXPECT_EQ(sent[10], sent[0]);
}

TEST(ConformalSelector, FalseAlarmRateOnStaticBackgroundIsAboutAlpha) {
  SyntheticSceneConfig sc;
  sc.num_cars = 0;
  sc.ego_speed_mps = 0.0;
  sc.noise = 0.02;
  ConformalConfig cc;
  cc.alpha = 0.1;
  cc.refresh_period_frames = 1000;
  BudgetConfig b;
  b.budget_bytes = 1 << 24;
  SyntheticScene scene(sc);
  ConformalTemporalSelector sel(b, cc);
  double rate_sum = 0;
  int frames = 0;
  for (int k = 0; k < 25; ++k) {
    Pose T;
    const FeatureMap m = scene.frame(k, &T);
    sel.select({&m, T});
    if (k >= 12) {
      ASSERT_TRUE(std::isfinite(sel.last().threshold));
      std::size_t nonempty = 0;
      for (std::size_t i = 0; i < m.cells(); ++i) {
        bool ne = false;
        for (int c = 0; c < m.channels && !ne; ++c) ne = m.data[static_cast<std::size_t>(c) * m.cells() + i] > 0.f;
        nonempty += ne;
      }
      rate_sum += static_cast<double>(sel.last().changed) / static_cast<double>(nonempty);
      ++frames;
    }
  }
  const double rate = rate_sum / frames;
  EXPECT_GT(rate, 0.05);
  EXPECT_LT(rate, 0.13);
}

TEST(ConformalSelector, BudgetCutKeepsTheMostChangedCells) {
  SyntheticSceneConfig sc;
  sc.car_speed_mps = 15.0;
  sc.ego_speed_mps = 0.0;  // every cell has a previous counterpart, so r > threshold ⇔ "changed"
  ConformalConfig cc;
  BudgetConfig b;
  b.budget_bytes = 3000;
  SyntheticScene scene(sc);
  ConformalTemporalSelector sel(b, cc);
  for (int k = 0; k < 8; ++k) {
    Pose T;
    const FeatureMap m = scene.frame(k, &T);
    const auto r = sel.select({&m, T});
    EXPECT_LE(r.bytes, 3000u);
    if (k >= 2 && sel.last().changed > r.cells.size()) {
      // Every changed cell left out has a lower priority than every cell sent.
      const double thr = sel.last().threshold;
      float min_sent = 1e9f;
      for (auto c : r.cells) min_sent = std::min(min_sent, sel.scores()[c]);
      std::size_t higher_unsent = 0;
      std::vector<char> is_sent(m.cells(), 0);
      for (auto c : r.cells) is_sent[c] = 1;
      for (std::size_t i = 0; i < m.cells(); ++i)
        higher_unsent += !is_sent[i] && sel.residuals()[i] > thr && sel.scores()[i] > min_sent;
      EXPECT_EQ(higher_unsent, 0u) << k;
    }
  }
}
