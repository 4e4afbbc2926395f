// LearnedPerception: one agent's sensors → one FeatureMap of the LiDAR detector's shape, per SensorSet (LiDAR only,
// cameras only, both through the camera model's ModalityFusion + the LiDAR head, auto), with untrained small nets.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "v2x/apps/runtime_factory.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/encoder/camera_net.hpp"
#include "v2x/encoder/manifest.hpp"
#include "v2x/sim/sensors.hpp"

using namespace v2x;
using namespace v2x::apps;

namespace {

encoder::DetectorConfig small_detector() {
  encoder::DetectorConfig c;
  c.pillars.x_min_m = -25.6, c.pillars.x_max_m = 25.6;
  c.pillars.y_min_m = -12.8, c.pillars.y_max_m = 12.8;
  c.net.pfn_channels = 8;
  c.net.block_channels = {8, 8, 8};
  c.net.block_layers = {1, 1, 1};
  c.net.up_channels = 8;
  c.net.out_channels = 8;
  c.decode.score_threshold = 0.0;  // untrained scores sit at the focal-loss prior (~0.01): keep every box
  return c;
}

encoder::CameraBranchConfig small_camera() {
  encoder::CameraBranchConfig c;
  c.input_width = 80, c.input_height = 60;
  c.cnn_channels = {8, 8};
  c.cnn_strides = {2, 2};
  c.bev_layers = 1;
  return c;
}

AgentFrame frame_with(bool cloud, bool cameras) {
  AgentFrame f;
  f.id = 5;
  f.stamp_ns = 7 * kNsPerMs;
  Rng rng(3);
  if (cloud)
    for (int i = 0; i < 3000; ++i)
      f.cloud.push_back(static_cast<float>(rng.uniform(-20, 20)), static_cast<float>(rng.uniform(-10, 10)),
                        static_cast<float>(rng.uniform(-1.8, 0.5)), 0.3f);
  if (cameras) {
    sim::CameraConfig cc;
    cc.width = 80, cc.height = 60;
    for (int k = 0; k < 4; ++k) {
      CameraFrame c;
      c.name = "camera" + std::to_string(k);
      c.calib = sim::surround_camera_calib(cc, k);
      c.image.width = 80, c.image.height = 60, c.image.channels = 3;
      c.image.rgb.resize(80 * 60 * 3);
      for (std::size_t i = 0; i < c.image.rgb.size(); ++i) c.image.rgb[i] = static_cast<std::uint8_t>((i * 13 + k) % 251);
      f.cameras.push_back(std::move(c));
    }
  }
  return f;
}

// A camera model folder (untrained weights) with or without LiDAR+camera fusion weights; the fusion is the
// untrained ModalityFusion, i.e. the identity on the LiDAR map.
std::string write_camera_model(const std::string& name, bool with_fusion) {
  const auto det = small_detector();
  const auto cam = small_camera();
  const std::string dir = (std::filesystem::temp_directory_path() / name).string();
  std::filesystem::create_directories(dir);
  torch::manual_seed(11);
  encoder::CameraDetectorNet net(det, cam);
  torch::save(net, dir + "/camera_weights.pt");
  nlohmann::ordered_json m;
  m["name"] = name;
  m["weights_file"] = "camera_weights.pt";
  m["detector"] = encoder::detector_config_to_json(det);
  m["camera"] = encoder::camera_config_to_json(cam);
  m["has_fusion"] = with_fusion;
  if (with_fusion) {
    encoder::ModalityFusion fusion(det.net.out_channels);
    torch::save(fusion, dir + "/fusion.pt");
    m["fusion_file"] = "fusion.pt";
  }
  std::ofstream(dir + "/" + encoder::kCameraManifestFile) << m.dump(2);
  return dir;
}

LearnedPerception make(bool camera_model, bool with_fusion) {
  const auto det = small_detector();
  std::shared_ptr<encoder::LidarDetector> lidar = encoder::LidarDetector::untrained(det, 5);
  std::shared_ptr<encoder::CameraEncoder> cam;
  if (camera_model)
    cam = std::make_shared<encoder::CameraEncoder>(
        write_camera_model(with_fusion ? "v2x_cam_fused" : "v2x_cam_plain", with_fusion), det);
  return LearnedPerception(lidar, cam);
}

double abs_sum(const FeatureMap& m) {
  double s = 0;
  for (float v : m.data) s += std::abs(v);
  return s;
}

}  // namespace

TEST(LearnedPerception, CameraOnlyAgentGetsAMapOfTheLidarShape) {
  auto p = make(true, false);
  const LocalPerception out = p.perceive(frame_with(true, true), 5, SensorSet::Camera);
  EXPECT_EQ(out.modality, kModalityCamera);
  EXPECT_EQ(out.features.channels, p.channels());
  EXPECT_TRUE(out.features.grid == p.feature_grid());
  EXPECT_EQ(out.features.confidence.size(), out.features.cells());
  EXPECT_GT(abs_sum(out.features), 0.0);
  EXPECT_EQ(out.features.agent, 5);
  for (const auto& q : out.proposals) EXPECT_EQ(q.feature.size(), static_cast<std::size_t>(p.channels()));
}

TEST(LearnedPerception, IdentityFusionOfLidarAndCameraEqualsLidarOnly) {
  auto fused = make(true, true);
  auto lidar_only = make(false, false);
  const AgentFrame f = frame_with(true, true);
  const LocalPerception a = fused.perceive(f, 5, SensorSet::LidarCamera);
  const LocalPerception b = lidar_only.perceive(f, 5, SensorSet::Lidar);
  EXPECT_EQ(a.modality, kModalityLidar | kModalityCamera);
  EXPECT_EQ(b.modality, kModalityLidar);
  ASSERT_EQ(a.features.data.size(), b.features.data.size());
  for (std::size_t i = 0; i < a.features.data.size(); i += 97) EXPECT_NEAR(a.features.data[i], b.features.data[i], 1e-4);
  ASSERT_GT(b.detections.detections.size(), 0u);
  ASSERT_EQ(a.detections.detections.size(), b.detections.detections.size());
  for (std::size_t i = 0; i < a.detections.detections.size(); ++i)
    EXPECT_NEAR(a.detections.detections[i].score, b.detections.detections[i].score, 1e-4);
}

TEST(LearnedPerception, CameraModelWithoutFusionWeightsLeavesLidarCameraAgentsOnLidar) {
  auto p = make(true, false);
  EXPECT_EQ(p.perceive(frame_with(true, true), 5, SensorSet::LidarCamera).modality, kModalityLidar);
}

TEST(LearnedPerception, AutoUsesWhatTheFrameHas) {
  auto p = make(true, true);
  EXPECT_EQ(p.perceive(frame_with(true, false), 5, SensorSet::Auto).modality, kModalityLidar);
  EXPECT_EQ(p.perceive(frame_with(false, true), 5, SensorSet::Auto).modality, kModalityCamera);
  EXPECT_EQ(p.perceive(frame_with(true, true), 5, SensorSet::Auto).modality, kModalityLidar | kModalityCamera);
  const LocalPerception nothing = p.perceive(frame_with(false, false), 5, SensorSet::Auto);
  EXPECT_EQ(nothing.modality, 0);
  EXPECT_EQ(abs_sum(nothing.features), 0.0);
  EXPECT_TRUE(nothing.detections.detections.empty());
  // LiDAR only ignores the images even when a camera model is loaded.
  EXPECT_EQ(p.perceive(frame_with(true, true), 5, SensorSet::Lidar).modality, kModalityLidar);
}

TEST(LearnedPerception, CorruptImagesAreDroppedAndTheAgentContinues) {
  auto p = make(true, true);
  AgentFrame f = frame_with(true, true);
  for (auto& c : f.cameras) c.image.rgb.resize(10);  // truncated images
  const LocalPerception both = p.perceive(f, 5, SensorSet::LidarCamera);
  EXPECT_EQ(both.modality, kModalityLidar);  // cameras dropped, LiDAR kept
  const LocalPerception cam_only = p.perceive(f, 5, SensorSet::Camera);
  EXPECT_EQ(cam_only.modality, 0);
  EXPECT_EQ(abs_sum(cam_only.features), 0.0);
  EXPECT_GE(p.camera()->totals().dropped(), 8);
}
