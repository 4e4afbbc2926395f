// The selectors' budget holds for the bytes comm::encode really produces (every quantization, with and
// without lz4), on random and synthetic maps.
#include <gtest/gtest.h>

#include "v2x/comm/codec.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/selection/selection_config.hpp"
#include "v2x/selection/synthetic_scene.hpp"

using namespace v2x;
using namespace v2x::selection;

TEST(SelectionWire, EncodedMessagesNeverExceedTheBudget) {
  Rng rng(23);
  for (int trial = 0; trial < 24; ++trial) {
    SyntheticSceneConfig sc;
    sc.channels = rng.uniform_int(4, 64);
    sc.car_speed_mps = rng.uniform(0, 15);
    sc.seed = static_cast<std::uint64_t>(trial + 1);
    SyntheticScene scene(sc);
    BudgetConfig b;
    b.budget_bytes = rng.uniform_int(400, 30000);
    b.quant = static_cast<Quantization>(trial % 4);
    std::vector<SparseAnchor> anchors(static_cast<std::size_t>(rng.uniform_int(0, 10)));
    for (auto& a : anchors) {
      a.score = static_cast<float>(rng.uniform());
      a.box.l_m = 4, a.box.w_m = 2, a.box.h_m = 1.5;
      a.feature.assign(static_cast<std::size_t>(sc.channels), static_cast<float>(rng.uniform()));
    }
    for (int kind = 0; kind < 6; ++kind) {
      SelectionConfig cfg;
      cfg.kind = static_cast<SelectorKind>(kind);
      cfg.budget = b;
      auto sel = make_selector(cfg);
      for (int k = 0; k < 3; ++k) {
        Pose T;
        const FeatureMap m = scene.frame(k, &T);
        const auto r = sel->select({&m, T, anchors});
        const auto f = make_sparse_features(m, r, T, anchors, static_cast<std::uint32_t>(k), b.quant);
        for (bool lz4 : {false, true}) {
          auto bytes = comm::encode(f, comm::EncodeOptions{lz4});
          ASSERT_TRUE(bytes.has_value()) << bytes.error().message;
          EXPECT_LE(bytes->size(), r.bytes);
          EXPECT_LE(bytes->size(), static_cast<std::size_t>(b.budget_bytes)) << sel->name();
        }
      }
    }
  }
}
