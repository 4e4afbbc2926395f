#pragma once
// The cooperative frame model: everything every agent sensed at one timestamp, plus world-frame ground truth.
// Produced by the dataset readers (sensors/) and by the simulator (sim/), consumed by the runtime and trainer.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "v2x/core/box.hpp"
#include "v2x/core/point_cloud.hpp"
#include "v2x/core/pose.hpp"
#include "v2x/core/types.hpp"

namespace v2x {

// An 8-bit (RGB, row-major, interleaved) or float (depth, metres) image without OpenCV in the core.
struct Image {
  int width = 0, height = 0, channels = 0;  // channels: 3 for RGB (R, G, B order), 1 for depth
  std::vector<std::uint8_t> rgb;            // (H, W, 3) when channels == 3
  std::vector<float> depth_m;               // (H, W) when channels == 1
  bool empty() const { return width == 0 || height == 0; }
};

// Pinhole camera: K (fx, fy, cx, cy in pixels) and T_lidar_camera (camera frame: x right, y down, z forward).
struct CameraCalib {
  double fx = 0, fy = 0, cx = 0, cy = 0;
  int width = 0, height = 0;
  Pose T_lidar_camera = Pose::Identity();
  // OPV2V stores the camera pose as CARLA [x, y, z, roll, yaw, pitch] ("cords") in the world frame.
  std::optional<Pose> T_world_camera;
};

struct CameraFrame {
  std::string name;          // "camera0".."camera3" in OPV2V
  CameraCalib calib;
  Image image;               // RGB; empty if not loaded
  std::optional<Image> depth;
};

struct AgentFrame {
  AgentId id = 0;
  bool is_rsu = false;
  TimestampNs stamp_ns = 0;
  PointCloud cloud;                         // in the agent's LiDAR frame
  Pose T_world_lidar = Pose::Identity();    // true pose
  std::optional<Pose> T_world_lidar_noisy;  // GPS/localisation estimate when the data has one
  std::vector<CameraFrame> cameras;
  // Objects this agent's own label file lists, in the world frame (OPV2V: its `vehicles`; DAIR: its side's labels).
  std::vector<Object3D> labels_world;
  double speed_mps = 0.0;
};

struct CoopFrame {
  std::string scenario;   // e.g. "2021_08_21_17_30_41" or "town_03_seed7"
  std::string timestamp;  // the dataset's frame name, e.g. "000069"
  TimestampNs stamp_ns = 0;
  AgentId ego = 0;        // the agent whose view evaluation uses (first/CAV ego in OPV2V)
  std::vector<AgentFrame> agents;
  std::vector<Object3D> gt_world;  // union of labels, de-duplicated by id, world frame

  const AgentFrame* agent(AgentId id) const {
    for (const auto& a : agents)
      if (a.id == id) return &a;
    return nullptr;
  }
};

}  // namespace v2x
