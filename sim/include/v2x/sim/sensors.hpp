#pragma once
// Ray-cast sensors: a spinning LiDAR and pinhole RGB + depth cameras, both tracing the same scene
// (ground raster + static BVH + dynamic BVH). Output is independent of the thread count: every ray has a
// fixed slot and its own noise stream derived from (noise_seed, ray index).
#include <cstdint>
#include <functional>
#include <vector>

#include "v2x/core/frame.hpp"
#include "v2x/core/point_cloud.hpp"
#include "v2x/core/pose.hpp"
#include "v2x/sim/bvh.hpp"
#include "v2x/sim/config.hpp"
#include "v2x/sim/world.hpp"

namespace v2x::sim {

// Nearest surface along a ray in the whole scene.
struct SceneHit {
  float t = -1.f;                  // metres; < 0: nothing within range
  Eigen::Vector3f normal{0, 0, 1};
  Material material = Material::Asphalt;
  std::uint8_t r = 0, g = 0, b = 0;
  std::int32_t owner = -1;         // actor id, -1 for scenery and ground
  bool ground = false;
  bool valid() const { return t >= 0.f; }
};

// Casts against the ground plane z = 0 (material from the raster), then the static and dynamic BVHs with the
// range shortened to the best hit so far. Primitives owned by `self_id` are ignored.
SceneHit cast_ray(const World& world, const Ray& ray, float t_min, float t_max, std::int32_t self_id);
// Ground albedo and LiDAR material of a raster cell.
void ground_surface(const World& world, float x, float y, Material& m, std::uint8_t rgb[3]);

struct LidarScan {
  PointCloud cloud;                  // LiDAR frame, x forward, y left, z up; intensity in [0, 1]
  std::vector<std::int32_t> owner;   // per point: actor id hit, -1 for scenery/ground
  std::size_t rays = 0;              // rays cast
};

class LidarSensor {
 public:
  explicit LidarSensor(const LidarConfig& cfg);
  std::size_t rays_per_scan() const { return dirs_.size(); }
  int channels() const { return channels_; }
  // One full revolution from pose T_world_lidar. Points are ordered by (channel, azimuth step).
  LidarScan scan(const World& world, const Pose& T_world_lidar, std::int32_t self_id, std::uint64_t noise_seed,
                 int threads = 1) const;

 private:
  LidarConfig cfg_;
  int channels_ = 0;
  std::vector<Eigen::Vector3f> dirs_;  // unit directions in the LiDAR frame, channel-major
};

// OPV2V-style surround camera k (0 front, 1 right, 2 left, 3 back) of a sensor rig: intrinsics and T_lidar_camera.
CameraCalib surround_camera_calib(const CameraConfig& cfg, int k);

// Renders RGB (and z-depth in metres, 0 = sky) from T_world_camera (camera frame: x right, y down, z forward).
void render_camera(const World& world, const CameraCalib& calib, const Pose& T_world_camera, bool shadows,
                   std::int32_t self_id, int threads, Image& rgb, Image* depth);

// Runs fn(begin, end) over [0, n) split into `threads` contiguous chunks (inline when threads <= 1).
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t, std::size_t)>& fn);

}  // namespace v2x::sim
