#include <gtest/gtest.h>

#include <cmath>

#include "v2x/core/expected.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/grid.hpp"
#include "v2x/core/point_cloud.hpp"

using namespace v2x;

TEST(BevGrid, CellCentreMapsBackToItsCell) {
  BevGrid g{-140.8, 140.8, -40.0, 40.0, 0.4};
  EXPECT_EQ(g.width(), 704);
  EXPECT_EQ(g.height(), 200);
  for (int ix : {0, 1, 350, 703})
    for (int iy : {0, 99, 199}) {
      auto c = g.cell_of(g.cell_center_x(ix), g.cell_center_y(iy));
      ASSERT_TRUE(c.has_value());
      EXPECT_EQ(c->first, ix);
      EXPECT_EQ(c->second, iy);
    }
  EXPECT_FALSE(g.cell_of(140.8, 0).has_value());
  EXPECT_FALSE(g.cell_of(0, -40.01).has_value());
  EXPECT_EQ(g.downsampled(2).width(), 352);
}

TEST(PointCloud, TransformAndRemoveNonFinite) {
  PointCloud pc;
  pc.push_back(1, 0, 0, 0.5f);
  pc.push_back(NAN, 0, 0, 0.1f);
  pc.push_back(0, 2, 0, 0.2f);
  EXPECT_EQ(pc.remove_non_finite(), 1u);
  ASSERT_EQ(pc.size(), 2u);
  pc.transform(planar_pose(1, 0, 0, M_PI / 2));
  EXPECT_NEAR(pc.x[0], 1.0f, 1e-6);
  EXPECT_NEAR(pc.y[0], 1.0f, 1e-6);
  EXPECT_NEAR(pc.x[1], -1.0f, 1e-6);
  EXPECT_FLOAT_EQ(pc.intensity[1], 0.2f);
}

TEST(Expected, HoldsValueOrCountableError) {
  Expected<int> ok = 5;
  Expected<int> bad = make_error(ErrorCode::Corrupt, "peer 3: bad magic");
  EXPECT_TRUE(ok);
  EXPECT_EQ(*ok, 5);
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::Corrupt);
  EXPECT_STREQ(to_string(bad.error().code), "corrupt");
}

TEST(FeatureMap, IndexesChannelRowColumn) {
  FeatureMap f(3, 4, 5);
  f.at(2, 3, 4) = 7.f;
  EXPECT_EQ(f.data.back(), 7.f);
  EXPECT_EQ(f.cells(), 20u);
}
