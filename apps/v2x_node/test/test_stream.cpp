// The live frame stream (driver → node): points and camera images round-trip; hostile headers and bodies are
// refused with an Error, never a crash or an oversized allocation.
#include <gtest/gtest.h>

#include "v2x/live/stream.hpp"

using namespace v2x;
using namespace v2x::live;

namespace {
StreamFrame frame_with_cameras(int cameras) {
  StreamFrame f;
  f.frame = 3;
  f.scenario = "s";
  f.timestamp = "000006";
  f.agent.id = 101;
  f.agent.stamp_ns = 300 * kNsPerMs;
  f.agent.T_world_lidar = planar_pose(1, 2, 1.9, 0.3);
  for (int i = 0; i < 50; ++i) f.agent.cloud.push_back(0.5f * i, -0.25f * i, -1.f, 0.1f);
  for (int k = 0; k < cameras; ++k) {
    CameraFrame c;
    c.name = "camera" + std::to_string(k);
    c.calib.fx = c.calib.fy = 80, c.calib.cx = 16, c.calib.cy = 12;
    c.calib.T_lidar_camera = planar_pose(0.1 * k, 0, 0, 0.5 * k);
    c.image.width = 32, c.image.height = 24, c.image.channels = 3;
    for (int i = 0; i < 32 * 24 * 3; ++i) c.image.rgb.push_back(static_cast<std::uint8_t>((i * 7 + k) % 256));
    f.agent.cameras.push_back(std::move(c));
  }
  return f;
}
}  // namespace

TEST(FrameStream, PointsAndCameraImagesRoundTrip) {
  const StreamFrame f = frame_with_cameras(4);
  const auto body = encode_frame_body(f.agent);
  EXPECT_EQ(body.size(), 16u * 50 + 4u * 32 * 24 * 3);
  const auto d = decode_frame(encode_frame_header(f), body.data(), body.size());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->agent.cloud.x, f.agent.cloud.x);
  ASSERT_EQ(d->agent.cameras.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    const auto& a = d->agent.cameras[k];
    const auto& b = f.agent.cameras[k];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.image.rgb, b.image.rgb);
    EXPECT_EQ(a.calib.width, 32);
    EXPECT_DOUBLE_EQ(a.calib.fx, 80);
    EXPECT_TRUE(a.calib.T_lidar_camera.isApprox(b.calib.T_lidar_camera, 1e-12));
  }
}

TEST(FrameStream, LidarOnlyFramesCarryNoCameraField) {
  const StreamFrame f = frame_with_cameras(0);
  EXPECT_EQ(encode_frame_header(f).find("cameras"), std::string::npos);
  const auto body = encode_frame_body(f.agent);
  const auto d = decode_frame(encode_frame_header(f), body.data(), body.size());
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->agent.cameras.empty());
}

TEST(FrameStream, BadCameraHeadersAndBodiesAreErrors) {
  StreamFrame f = frame_with_cameras(2);
  const auto body = encode_frame_body(f.agent);
  const std::string header = encode_frame_header(f);
  EXPECT_FALSE(decode_frame(header, body.data(), body.size() - 1));  // truncated image
  // A camera claiming a huge image is refused before anything is allocated.
  std::string huge = header;
  huge.replace(huge.find("\"width\":32"), 10, "\"width\":99999");
  EXPECT_FALSE(decode_frame(huge, body.data(), body.size()));
  std::string not_list = header;
  not_list.replace(not_list.find("\"cameras\":["), 11, "\"cameras\":{\"a\":[");
  EXPECT_FALSE(decode_frame(not_list, body.data(), body.size()));
  // A camera without a valid image is not sent at all.
  f.agent.cameras[1].image.rgb.resize(5);
  const auto b2 = encode_frame_body(f.agent);
  const auto d = decode_frame(encode_frame_header(f), b2.data(), b2.size());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->agent.cameras.size(), 1u);
}
