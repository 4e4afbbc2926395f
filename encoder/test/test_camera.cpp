// Camera branch: lifting geometry, input checks, network shapes, modality fusion, runtime encoder bad input.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "v2x/encoder/camera_encoder.hpp"
#include "v2x/encoder/camera_lift.hpp"
#include "v2x/encoder/camera_net.hpp"
#include "v2x/encoder/manifest.hpp"
#include <fstream>
#include "v2x/sim/sensors.hpp"

using namespace v2x;
using namespace v2x::encoder;

namespace {

DetectorConfig tiny_detector() {
  DetectorConfig c;
  c.pillars.x_min_m = -25.6, c.pillars.x_max_m = 25.6;
  c.pillars.y_min_m = -12.8, c.pillars.y_max_m = 12.8;
  c.net.pfn_channels = 8;
  c.net.block_channels = {8, 8, 8};
  c.net.block_layers = {1, 1, 1};
  c.net.up_channels = 8;
  c.net.out_channels = 8;
  return c;
}

CameraBranchConfig tiny_camera() {
  CameraBranchConfig c;
  c.input_width = 80, c.input_height = 60;
  c.cnn_channels = {8, 8};
  c.cnn_strides = {2, 2};
  c.bev_layers = 1;
  return c;
}

// The simulator's surround rig at w × h with a deterministic gradient image.
std::vector<CameraFrame> rig(int w, int h) {
  sim::CameraConfig cc;
  cc.width = w, cc.height = h;
  std::vector<CameraFrame> cams;
  for (int k = 0; k < 4; ++k) {
    CameraFrame f;
    f.name = "camera" + std::to_string(k);
    f.calib = sim::surround_camera_calib(cc, k);
    f.image.width = w, f.image.height = h, f.image.channels = 3;
    f.image.rgb.resize(static_cast<std::size_t>(w) * h * 3);
    for (std::size_t i = 0; i < f.image.rgb.size(); ++i) f.image.rgb[i] = static_cast<std::uint8_t>((i * 7 + k * 31) % 251);
    cams.push_back(std::move(f));
  }
  return cams;
}

}  // namespace

TEST(CameraLift, GroundPointAheadProjectsBelowImageCentreOfFrontCamera) {
  sim::CameraConfig cc;
  const CameraCalib front = sim::surround_camera_calib(cc, 0);
  BevGrid g{9.6, 10.4, -0.4, 0.4, 0.8};  // one cell centred at (10, 0)
  const LiftGrid lg = make_lift_grid(front, g, {-1.9, -0.3}, 0.5, 60);
  ASSERT_EQ(lg.valid_count(), 2u);
  // Straight ahead: x_norm ≈ 0. Ground (1.6 m below the camera at 9.5 m depth) is below the centre (y > 0);
  // a point at camera height (z = -0.3) is on the horizon (y ≈ 0).
  EXPECT_NEAR(lg.xy[0], 0.f, 1e-3);
  const double expect_y = 2.0 * (front.fy * 1.6 / 9.5) / front.height;
  EXPECT_NEAR(lg.xy[1], expect_y, 1e-3);
  EXPECT_NEAR(lg.xy[3], 0.f, 1e-3);
}

TEST(CameraLift, PointBehindFrontCameraIsInvalidAndSurroundRigCoversAllDirections) {
  sim::CameraConfig cc;
  const BevGrid g{-20, 20, -20, 20, 0.8};
  const LiftGrid front = make_lift_grid(sim::surround_camera_calib(cc, 0), g, {-1.9}, 0.5, 60);
  // Cell at (-10, 0) is behind the front camera.
  const int ix = static_cast<int>((-10 - g.x_min_m) / g.cell_m), iy = static_cast<int>((0 - g.y_min_m) / g.cell_m);
  EXPECT_EQ(front.valid[static_cast<std::size_t>(iy) * g.width() + ix], 0.f);
  std::vector<float> any(static_cast<std::size_t>(g.num_cells()), 0.f);
  for (int k = 0; k < 4; ++k) {
    const LiftGrid lg = make_lift_grid(sim::surround_camera_calib(cc, k), g, {-1.9}, 0.5, 60);
    for (std::size_t i = 0; i < any.size(); ++i) any[i] = std::max(any[i], lg.valid[i]);
  }
  // 4 × 100° cameras see the ground all around beyond a few metres.
  std::size_t far_seen = 0, far = 0;
  for (int y = 0; y < g.height(); ++y)
    for (int x = 0; x < g.width(); ++x)
      if (std::hypot(g.cell_center_x(x), g.cell_center_y(y)) > 8.0) {
        ++far;
        far_seen += any[static_cast<std::size_t>(y) * g.width() + x] > 0;
      }
  EXPECT_GT(static_cast<double>(far_seen) / far, 0.9);
}

TEST(CameraInput, ResizeAveragesIntegerBlocks) {
  Image im;
  im.width = 4, im.height = 2, im.channels = 3;
  im.rgb = {0, 0, 0, 255, 255, 255, 10, 10, 10, 10, 10, 10, 0, 0, 0, 255, 255, 255, 10, 10, 10, 10, 10, 10};
  std::vector<float> out(3 * 2 * 1);
  resize_rgb_to_planar(im, 2, 1, out.data());
  EXPECT_NEAR(out[0], 0.5f, 1e-6);
  EXPECT_NEAR(out[1], 10.f / 255.f, 1e-6);
}

TEST(CameraInput, DropsMissingCorruptAndUncalibratedCamerasAndCountsThem) {
  auto cams = rig(80, 60);
  cams[0].image = Image{};                 // missing
  cams[1].image.rgb.resize(10);            // corrupt
  cams[2].calib.fx = 0;                    // no calibration
  EXPECT_EQ(check_camera(cams[0]), CameraDrop::MissingImage);
  EXPECT_EQ(check_camera(cams[1]), CameraDrop::CorruptImage);
  EXPECT_EQ(check_camera(cams[2]), CameraDrop::MissingCalibration);
  EXPECT_EQ(check_camera(cams[3]), CameraDrop::None);
  const DetectorConfig det = tiny_detector();
  CameraInputBuilder b(tiny_camera(), det.feature_grid());
  CameraInputStats st;
  const CameraBatch batch = b.build({&cams}, &st);
  EXPECT_EQ(st.used, 1);
  EXPECT_EQ(st.missing_image, 1);
  EXPECT_EQ(st.corrupt_image, 1);
  EXPECT_EQ(st.missing_calibration, 1);
  // The one usable camera fills slot 0; the other slots are empty.
  EXPECT_GT(batch.valid[0].sum().item<float>(), 0.f);
  EXPECT_EQ(batch.valid.slice(0, 1).sum().item<float>(), 0.f);
}

TEST(CameraNet, ProducesTheLidarFeatureMapShapeForBothLiftModes) {
  const DetectorConfig det = tiny_detector();
  const BevGrid fg = det.feature_grid();
  for (CameraLift lift : {CameraLift::FlatGround, CameraLift::MultiHeight}) {
    CameraBranchConfig cam = tiny_camera();
    cam.lift = lift;
    torch::manual_seed(1);
    CameraDetectorNet net(det, cam);
    CameraInputBuilder b(cam, fg);
    const auto cams = rig(160, 120);
    const CameraBatch batch = b.build({&cams, &cams});
    const HeadOutput h = net->forward(batch);
    EXPECT_EQ(h.features.sizes(), (std::vector<std::int64_t>{2, det.net.out_channels, fg.height(), fg.width()}));
    EXPECT_EQ(h.cls.sizes(), (std::vector<std::int64_t>{2, fg.height(), fg.width(), det.anchors.per_cell()}));
  }
}

TEST(CameraNet, LiftedFeaturesDependOnlyOnCamerasThatSeeTheCell) {
  // A BEV cell behind the ego is seen only by the back camera: changing the front image must not change it.
  const DetectorConfig det = tiny_detector();
  CameraBranchConfig cam = tiny_camera();
  cam.bev_layers = 0;  // no 3×3 convs: each output cell depends on its own lifted samples only
  torch::manual_seed(2);
  CameraBev bev(cam, det.net.out_channels);
  bev->eval();
  CameraInputBuilder b(cam, det.feature_grid());
  auto cams = rig(80, 60);
  torch::NoGradGuard ng;
  const auto a = bev->forward(b.build({&cams}));
  for (auto& v : cams[0].image.rgb) v = static_cast<std::uint8_t>(255 - v);
  const auto c = bev->forward(b.build({&cams}));
  const BevGrid g = det.feature_grid();
  const int ix_back = static_cast<int>((-15 - g.x_min_m) / g.cell_m), ix_front = static_cast<int>((15 - g.x_min_m) / g.cell_m);
  const int iy = g.height() / 2;
  EXPECT_TRUE(torch::allclose(a.index({0, torch::indexing::Slice(), iy, ix_back}), c.index({0, torch::indexing::Slice(), iy, ix_back})));
  EXPECT_FALSE(torch::allclose(a.index({0, torch::indexing::Slice(), iy, ix_front}), c.index({0, torch::indexing::Slice(), iy, ix_front})));
}

TEST(ModalityFusion, UntrainedFusionPassesTheLidarMapThrough) {
  ModalityFusion f(8);
  torch::manual_seed(3);
  const auto l = torch::randn({1, 8, 5, 6}), c = torch::randn({1, 8, 5, 6});
  EXPECT_TRUE(torch::allclose(f->forward(l, c), l));
}

TEST(CameraEncoder, CameraOnlyAgentGetsTheLidarGridAndModalityBits) {
  const DetectorConfig det = tiny_detector();
  auto enc = CameraEncoder::untrained(det, tiny_camera(), 4);
  const auto cams = rig(160, 120);
  auto out = enc->encode(cams, 7, 100);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->features.grid, det.feature_grid());
  EXPECT_EQ(out->features.channels, det.net.out_channels);
  EXPECT_EQ(out->cameras.used, 4);
  EXPECT_EQ(out->modality, kModalityCamera);
  EXPECT_EQ(modality_bits(true, out->cameras.used > 0), kModalityLidar | kModalityCamera);
  // LiDAR+camera: same shape as the LiDAR map; untrained fusion = the LiDAR map.
  FeatureMap lidar(det.net.out_channels, out->features.height, out->features.width);
  lidar.grid = det.feature_grid();
  for (std::size_t i = 0; i < lidar.data.size(); ++i) lidar.data[i] = static_cast<float>(i % 13) * 0.1f;
  auto fused = enc->fuse(lidar, out->features);
  ASSERT_TRUE(fused.has_value());
  EXPECT_EQ(fused->data.size(), lidar.data.size());
  for (std::size_t i = 0; i < lidar.data.size(); i += 97) EXPECT_NEAR(fused->data[i], lidar.data[i], 1e-5);
  FeatureMap wrong(4, 2, 2);
  EXPECT_FALSE(enc->fuse(wrong, out->features).has_value());
}

TEST(CameraEncoder, AgentContinuesWhenEveryCameraIsBad) {
  auto enc = CameraEncoder::untrained(tiny_detector(), tiny_camera(), 5);
  auto cams = rig(80, 60);
  for (auto& c : cams) c.image.rgb.clear();
  cams[0].image = Image{};
  auto out = enc->encode(cams, 1, 0);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->cameras.used, 0);
  EXPECT_EQ(out->modality, 0);
  EXPECT_TRUE(out->detections.detections.empty());
  EXPECT_EQ(enc->totals().dropped(), 4);
  // Next frame with good cameras works again.
  auto ok = enc->encode(rig(80, 60), 1, 1);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->cameras.used, 4);
}

TEST(CameraEncoder, RefusesWeightsOfAnotherArchitecture) {
  const auto dir = std::filesystem::temp_directory_path() / "v2x_test_camera_manifest";
  std::filesystem::create_directories(dir);
  CameraBranchConfig cam = tiny_camera();
  DetectorConfig det = tiny_detector();
  nlohmann::ordered_json m;
  m["detector"] = detector_config_to_json(det);
  cam.lift = cam.lift == CameraLift::FlatGround ? CameraLift::MultiHeight : CameraLift::FlatGround;
  m["camera"] = camera_config_to_json(cam);
  std::ofstream(dir / kCameraManifestFile) << m.dump(2);
  try {
    CameraEncoder e(dir.string(), det, tiny_camera());
    FAIL() << "accepted a manifest with another lift than the config's";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("camera.lift"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}
