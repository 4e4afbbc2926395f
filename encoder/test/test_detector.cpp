// The runtime LidarDetector: bad input, outputs, loading weights and refusing mismatched ones.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "test_helpers.hpp"
#include "v2x/encoder/lidar_detector.hpp"
#include "v2x/encoder/network.hpp"

using namespace v2x;
using namespace v2x::encoder;
using v2x::encoder::testing::car;
using v2x::encoder::testing::synthetic_scene;
using v2x::encoder::testing::tiny_config;

namespace {
DetectorConfig permissive(DetectorConfig c) {
  c.decode.score_threshold = 0.0;  // untrained weights score ~0.01: keep them so the outputs can be checked
  c.proposal_score_min = 0.0;
  c.num_proposals = 20;
  return c;
}
}  // namespace

TEST(LidarDetector, EmptyAndAllNanCloudsGiveZeroDetectionsAndCountWarnings) {
  auto det = LidarDetector::untrained(tiny_config(), 1);
  auto r = det->run(PointCloud{}, 7, 100);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty_input);
  EXPECT_TRUE(r->detections.detections.empty());
  EXPECT_TRUE(r->proposals.empty());
  EXPECT_EQ(r->features.channels, tiny_config().net.out_channels);
  EXPECT_EQ(r->features.agent, 7);
  EXPECT_EQ(det->empty_inputs(), 1);
  PointCloud nan;
  const float q = std::numeric_limits<float>::quiet_NaN();
  for (int i = 0; i < 100; ++i) nan.push_back(q, q, q, q);
  auto r2 = det->run(nan);
  ASSERT_TRUE(r2.has_value());
  EXPECT_TRUE(r2->empty_input);
  EXPECT_EQ(r2->points_invalid, 100u);
  EXPECT_EQ(det->empty_inputs(), 2);
}

TEST(LidarDetector, ProducesFeatureMapConfidenceAndProposalsWithSampledFeatures) {
  auto det = LidarDetector::untrained(permissive(tiny_config()), 2);
  const RawSample s = synthetic_scene({car(3, 1, 0.2)}, 3);
  auto r = det->run(s.cloud);
  ASSERT_TRUE(r.has_value());
  const FeatureMap& fm = r->features;
  EXPECT_EQ(fm.height, 16);
  EXPECT_EQ(fm.width, 32);
  EXPECT_EQ(fm.grid, tiny_config().feature_grid());
  ASSERT_EQ(fm.confidence.size(), fm.cells());
  for (float c : fm.confidence) {
    EXPECT_GE(c, 0.f);
    EXPECT_LE(c, 1.f);
  }
  ASSERT_FALSE(r->proposals.empty());
  EXPECT_LE(r->proposals.size(), 20u);
  for (const auto& p : r->proposals) {
    // The confidence map is the max over the cell's anchors, so it bounds every proposal's score from that cell.
    EXPECT_GE(fm.confidence[static_cast<std::size_t>(p.proposal.iy) * fm.width + p.proposal.ix] + 1e-6, p.proposal.score);
    EXPECT_EQ(p.feature, sample_features(fm, p.proposal.box.center.x(), p.proposal.box.center.y()));
  }
  EXPECT_GT(r->timings.total_ms, 0.0);
}

TEST(SampleFeatures, AtACellCentreEqualsThatCellAndOutsideIsZero) {
  FeatureMap fm(2, 3, 4);
  fm.grid = BevGrid{0, 4, 0, 3, 1.0};
  for (std::size_t i = 0; i < fm.data.size(); ++i) fm.data[i] = static_cast<float>(i);
  const auto v = sample_features(fm, 2.5, 1.5);  // cell (ix 2, iy 1)
  EXPECT_FLOAT_EQ(v[0], fm.at(0, 1, 2));
  EXPECT_FLOAT_EQ(v[1], fm.at(1, 1, 2));
  const auto mid = sample_features(fm, 2.0, 1.5);  // halfway between ix 1 and 2
  EXPECT_FLOAT_EQ(mid[0], 0.5f * (fm.at(0, 1, 1) + fm.at(0, 1, 2)));
  EXPECT_EQ(sample_features(fm, -5, 1)[0], 0.f);
}

TEST(LidarDetector, LoadsSavedWeightsAndRefusesAManifestWithAnotherArchitecture) {
  const auto dir = std::filesystem::temp_directory_path() / "v2x_test_detector_model";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const DetectorConfig cfg = permissive(tiny_config());
  torch::manual_seed(4);
  DetectorNet net(cfg);
  torch::save(net, (dir / "weights.pt").string());
  ModelManifest m;
  m.name = "unit";
  m.config = cfg;
  write_manifest(m, dir.string());

  LidarDetector a(dir.string(), cfg);
  LidarDetector b(dir.string());  // the manifest's own config
  const RawSample s = synthetic_scene({car(-4, 2, 1.0)}, 5);
  auto ra = a.run(s.cloud), rb = b.run(s.cloud);
  ASSERT_TRUE(ra.has_value() && rb.has_value());
  EXPECT_EQ(ra->features.data, rb->features.data);
  // Same weights through the module directly, prepared for inference as LidarDetector prepares it.
  net->fold_batchnorm_for_inference();
  torch::NoGradGuard ng;
  const Pillarizer pz(cfg.pillars);
  const Pillars p = pz.run(s.cloud);
  const auto f = net->forward(make_pillar_batch({&p})).features.contiguous();
  EXPECT_TRUE(std::equal(ra->features.data.begin(), ra->features.data.end(), f.data_ptr<float>()));

  DetectorConfig other = cfg;
  other.net.out_channels = 32;
  other.anchors.yaws_deg = {0.0};
  try {
    LidarDetector c(dir.string(), other);
    FAIL() << "mismatched architecture accepted";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("net.out_channels: 16 (manifest) vs 32 (runtime)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("anchors.yaws_deg"), std::string::npos) << msg;
  }
  EXPECT_THROW(LidarDetector((dir / "nope").string(), cfg), std::runtime_error);
  std::filesystem::remove_all(dir);
}
