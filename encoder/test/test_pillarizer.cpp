// Pillarization, augmentation and manifest handling (no network).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "v2x/core/rng.hpp"
#include "v2x/encoder/manifest.hpp"
#include "v2x/encoder/pillarizer.hpp"
#include "v2x/encoder/training.hpp"

using namespace v2x;
using namespace v2x::encoder;

namespace {
PillarConfig small_grid() {
  PillarConfig c;
  c.x_min_m = -4, c.x_max_m = 4, c.y_min_m = -2, c.y_max_m = 2, c.pillar_m = 1.0;
  c.z_min_m = -3, c.z_max_m = 1;
  c.max_points_per_pillar = 4;
  c.max_pillars = 100;
  return c;
}
}  // namespace

TEST(Pillarizer, FeaturesHoldOffsetsToPillarMeanAndCentre) {
  Pillarizer pz(small_grid());
  PointCloud pc;
  pc.push_back(0.2f, 0.4f, -1.0f, 0.5f);  // cell ix 4, iy 2: centre (0.5, 0.5), z centre -1
  pc.push_back(0.6f, 0.8f, 0.0f, 0.25f);
  const Pillars p = pz.run(pc);
  ASSERT_EQ(p.num_pillars, 1);
  ASSERT_EQ(p.num_points(), 2u);
  EXPECT_EQ(p.grid_w, 8);
  EXPECT_EQ(p.grid_h, 4);
  EXPECT_EQ(p.cells[0], 2 * 8 + 4);
  EXPECT_EQ(p.counts[0], 2);
  const float* f = p.features.data();
  EXPECT_FLOAT_EQ(f[0], 0.2f);
  EXPECT_FLOAT_EQ(f[3], 0.5f);
  EXPECT_NEAR(f[4], 0.2 - 0.4, 1e-6);   // x - mean x
  EXPECT_NEAR(f[5], 0.4 - 0.6, 1e-6);   // y - mean y
  EXPECT_NEAR(f[6], -1.0 + 0.5, 1e-6);  // z - mean z
  EXPECT_NEAR(f[7], 0.2 - 0.5, 1e-6);   // x - centre x
  EXPECT_NEAR(f[8], 0.4 - 0.5, 1e-6);
  EXPECT_NEAR(f[9], -1.0 + 1.0, 1e-6);  // z - (z_min + z_max) / 2
  EXPECT_NEAR(f[kPointFeatures + 4], 0.6 - 0.4, 1e-6);
}

TEST(Pillarizer, DropsOutOfRangeAndNonFinitePoints) {
  Pillarizer pz(small_grid());
  PointCloud pc;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  pc.push_back(nan, 0, 0, 0);
  pc.push_back(0, std::numeric_limits<float>::infinity(), 0, 0);
  pc.push_back(4.0f, 0, 0, 0);    // x_max is exclusive
  pc.push_back(0, 0, 1.0f, 0);    // z_max is exclusive
  pc.push_back(0, 0, -3.5f, 0);   // below z_min
  pc.push_back(-4.0f, -2.0f, -3.0f, nan);  // the lower corner is inside; NaN intensity becomes 0
  const Pillars p = pz.run(pc);
  EXPECT_EQ(p.points_invalid, 2u);
  ASSERT_EQ(p.num_points(), 1u);
  EXPECT_EQ(p.cells[0], 0);
  EXPECT_EQ(p.features[3], 0.f);
}

TEST(Pillarizer, RespectsMaxPointsPerPillarAndMaxPillars) {
  PillarConfig c = small_grid();
  c.max_pillars = 2;
  Pillarizer pz(c);
  PointCloud pc;
  for (int i = 0; i < 6; ++i) pc.push_back(0.5f, 0.5f, 0.f, 0.f);  // 6 points in one pillar, max 4
  pc.push_back(1.5f, 0.5f, 0.f, 0.f);                              // second pillar
  pc.push_back(2.5f, 0.5f, 0.f, 0.f);                              // third: over max_pillars
  const Pillars p = pz.run(pc);
  EXPECT_EQ(p.num_pillars, 2);
  EXPECT_EQ(p.counts[0], 4);
  EXPECT_EQ(p.counts[1], 1);
  EXPECT_EQ(p.num_points(), 5u);
  EXPECT_EQ(p.points_dropped, 3u);
}

TEST(Pillarizer, EmptyCloudGivesNoPillars) {
  Pillarizer pz(small_grid());
  const Pillars p = pz.run(PointCloud{});
  EXPECT_EQ(p.num_pillars, 0);
  EXPECT_TRUE(p.features.empty());
}

TEST(Augment, KeepsPointsInsideTheirBoxes) {
  RawSample s;
  Box3D b;
  b.center = {10, 5, -1};
  b.l_m = 4.5, b.w_m = 1.9, b.h_m = 1.6, b.yaw_rad = 0.4;
  s.boxes.push_back(b);
  Rng r(5);
  // Points on a grid inside the box (shrunk a little to stay clear of the boundary after float rounding).
  for (int i = 0; i < 50; ++i) {
    const Eigen::Vector3d local(r.uniform(-2.1, 2.1), r.uniform(-0.9, 0.9), r.uniform(-0.7, 0.7));
    const Eigen::Vector3d p = b.center + Eigen::AngleAxisd(b.yaw_rad, Eigen::Vector3d::UnitZ()) * local;
    s.cloud.push_back(static_cast<float>(p.x()), static_cast<float>(p.y()), static_cast<float>(p.z()), 0.1f);
  }
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    RawSample a = s;
    Rng rng(seed);
    AugmentConfig cfg;
    cfg.flip_y_prob = 0.5;
    augment(a, cfg, rng);
    for (std::size_t k = 0; k < a.cloud.size(); ++k)
      EXPECT_TRUE(a.boxes[0].contains(Eigen::Vector3d(a.cloud.x[k], a.cloud.y[k], a.cloud.z[k]))) << "seed " << seed;
  }
}

TEST(Augment, IsDeterministicForASeedAndOffWhenDisabled) {
  RawSample s;
  s.cloud.push_back(1, 2, 3, 0);
  Box3D b;
  b.center = {1, 2, 3};
  b.l_m = b.w_m = b.h_m = 1;
  s.boxes.push_back(b);
  RawSample a = s, c = s, d = s;
  Rng r1(9), r2(9), r3(9);
  augment(a, AugmentConfig{}, r1);
  augment(c, AugmentConfig{}, r2);
  EXPECT_EQ(a.cloud.x[0], c.cloud.x[0]);
  EXPECT_EQ(a.boxes[0].yaw_rad, c.boxes[0].yaw_rad);
  AugmentConfig off;
  off.enabled = false;
  augment(d, off, r3);
  EXPECT_EQ(d.cloud.x[0], 1.f);
  EXPECT_EQ(d.boxes[0].center.x(), 1.0);
}

TEST(DetectorConfig, RejectsGridNotDivisibleByTheStrides) {
  DetectorConfig c;
  c.pillars.x_max_m = 51.6;  // 257 pillars
  EXPECT_THROW(validate_config(c, "t.yaml"), ConfigError);
  DetectorConfig ok;
  EXPECT_NO_THROW(validate_config(ok, "t.yaml"));
}

TEST(Manifest, RoundTripsTheConfigAndListsArchitectureDifferences) {
  const auto dir = std::filesystem::temp_directory_path() / "v2x_test_manifest";
  std::filesystem::remove_all(dir);
  ModelManifest m;
  m.name = "unit";
  m.config.net.out_channels = 48;
  m.config.decode.score_threshold = 0.3;
  m.metrics["x"] = 1;
  write_manifest(m, dir.string());
  const ModelManifest r = read_manifest(dir.string());
  EXPECT_EQ(r.name, "unit");
  EXPECT_EQ(r.config.net.out_channels, 48);
  EXPECT_DOUBLE_EQ(r.config.decode.score_threshold, 0.3);
  EXPECT_EQ(r.weights_path(), dir.string() + "/weights.pt");
  EXPECT_TRUE(architecture_differences(r.config, m.config).empty());

  DetectorConfig runtime = m.config;
  runtime.net.out_channels = 64;
  runtime.pillars.pillar_m = 0.2;
  runtime.anchors.yaws_deg = {0.0};
  runtime.decode.score_threshold = 0.5;  // not architecture
  runtime.pillars.max_pillars = 5;       // not architecture
  const auto d = architecture_differences(r.config, runtime);
  ASSERT_EQ(d.size(), 3u);
  std::string all;
  for (const auto& s : d) all += s + "\n";
  EXPECT_NE(all.find("net.out_channels: 48 (manifest) vs 64 (runtime)"), std::string::npos) << all;
  EXPECT_NE(all.find("pillars.pillar_m"), std::string::npos) << all;
  EXPECT_NE(all.find("anchors.yaws_deg"), std::string::npos) << all;
  std::filesystem::remove_all(dir);
}

TEST(Manifest, MissingOrMalformedManifestThrowsNamingTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / "v2x_test_manifest_bad";
  std::filesystem::create_directories(dir);
  try {
    read_manifest((dir / "absent").string());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("absent"), std::string::npos);
  }
  {
    std::ofstream(dir / "manifest.json") << R"({"version": 1, "config": {"net": {"out_channels": "x"}}})";
  }
  try {
    read_manifest(dir.string());
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("net.out_channels"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}
