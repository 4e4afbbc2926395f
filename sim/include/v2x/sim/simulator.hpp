#pragma once
// The in-process simulator API used by v2x_sim, the trainer (on-the-fly training data) and the live driver.
//
//   v2x::sim::Simulator sim(v2x::sim::preset("urban"), /*seed=*/7);
//   for (int k = 0; k < 100; ++k) { v2x::CoopFrame f = sim.step(); ... }
//
// Every call to step() advances the world by one LiDAR period (100 ms) and returns one CoopFrame with all
// connected agents (connected vehicles first — the first one is the ego — then RSUs). Output depends only
// on (config, seed): not on the thread count, the machine or the time.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "v2x/core/frame.hpp"
#include "v2x/sim/config.hpp"
#include "v2x/sim/sensors.hpp"
#include "v2x/sim/world.hpp"

namespace v2x::sim {

constexpr TimestampNs kLidarPeriodNs = 100 * kNsPerMs;

struct StepStats {
  double world_ms = 0, lidar_ms = 0, camera_ms = 0, labels_ms = 0;
  std::size_t rays = 0, points = 0;
};

class Simulator {
 public:
  // Validates cfg (ConfigError naming the key), builds the town and spawns traffic, simulates the warm-up.
  Simulator(const SimConfig& cfg, std::uint64_t seed);

  // Advances one LiDAR period and returns every connected agent's frame:
  //  - cloud in the agent's LiDAR frame, T_world_lidar (true) and T_world_lidar_noisy (GPS/localisation noise),
  //  - stamp_ns = frame index × 100 ms; timestamp = zero-padded 50 ms step number as in OPV2V, i.e. 2 × frame
  //    index ("000000", "000002", ...),
  //  - cameras (RGB + depth) for the agents whose rig has them (AgentsConfig::renders_cameras: agents.sensors, else
  //    agents.cameras.enabled); a camera-only agent (agents.sensors) has an empty cloud,
  //  - labels_world: every object within agents.label_range_m (BEV) of the agent, except the agent's own
  //    vehicle, with lidar_points = that agent's returns inside the box,
  //  - gt_world: every object in the town (moving and parked), lidar_points = returns inside it summed over agents.
  CoopFrame step();

  const World& world() const { return *world_; }
  const SimConfig& config() const { return cfg_; }
  std::uint64_t seed() const { return seed_; }
  int frame_index() const { return frame_; }           // frames returned so far
  std::string scenario_name() const;                   // "<config name>_seed<seed>"
  // Ray-casting threads (default 1); the output does not depend on it.
  void set_threads(int threads) { threads_ = threads < 1 ? 1 : threads; }
  int threads() const { return threads_; }
  const StepStats& last_stats() const { return stats_; }
  // Master switch for camera rendering from the next step on (default on): off renders no camera at all, on
  // renders the cameras of the agents whose rig has them. Cameras draw no random numbers, so this never changes
  // the LiDAR output or the traffic.
  void set_cameras_enabled(bool on) { cameras_on_ = on; }

  // Sensor poses of agent k (agent order as in CoopFrame::agents) at the current time.
  Pose agent_lidar_pose(std::size_t k) const;
  std::size_t agent_count() const;

 private:
  SimConfig cfg_;
  std::uint64_t seed_;
  std::unique_ptr<World> world_;
  LidarSensor vehicle_lidar_, rsu_lidar_;
  int frame_ = 0;
  int threads_ = 1;
  bool cameras_on_ = true;
  StepStats stats_;
};

// Counts, for every box, the points (world frame) inside it. Boxes are bucketed on a BEV grid, so the cost
// is O(points + boxes). Used for the per-agent visibility counts; exposed for tests.
std::vector<int> count_points_in_boxes(const std::vector<Box3D>& boxes, const std::vector<Eigen::Vector3d>& points_world);

}  // namespace v2x::sim
