#pragma once
// Simulator configuration: town layout, traffic, connected agents (vehicles + RSUs), sensors and noise.
// Loaded from config/sim/*.yaml by apps/common (the library never reads YAML) or built in code with preset().
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "v2x/core/config.hpp"
#include "v2x/core/sensor_set.hpp"

namespace v2x::sim {

enum class TownLayout { UrbanGrid = 0, Suburban, HighwayMerge };

// Vertical channel layout of a LiDAR. `custom` spreads `channels` beams uniformly over
// [fov_down_deg, fov_up_deg] (or uses vertical_angles_deg when given); the others are built-in tables.
enum class LidarModel { Custom = 0, Hdl64, Vlp32, Os128, Rsu };

}  // namespace v2x::sim

template <>
struct v2x::EnumNames<v2x::sim::TownLayout> {
  static constexpr std::array<std::string_view, 3> names{"urban_grid", "suburban", "highway_merge"};
};
template <>
struct v2x::EnumNames<v2x::sim::LidarModel> {
  static constexpr std::array<std::string_view, 5> names{"custom", "hdl64", "vlp32", "os128", "rsu"};
};

namespace v2x::sim {

struct TownConfig {
  TownLayout layout = TownLayout::UrbanGrid;
  int blocks_x = 4, blocks_y = 4;           // grid towns: blocks per axis (nodes = blocks + 1)
  double block_min_m = 70.0;                // grid spacing between intersection centres, drawn per row/column
  double block_max_m = 110.0;
  int lanes_min = 2, lanes_max = 4;         // total lanes per road (both directions), even numbers used
  double lane_width_m = 3.5;
  double sidewalk_width_m = 3.0;
  double t_intersection_fraction = 0.2;     // share of grid roads removed (turns 4-way into T intersections)
  double parking_fraction = 0.5;            // share of roads with a parking strip on both sides
  double parked_per_100m = 6.0;             // parked vehicles per 100 m of parking strip
  double building_height_min_m = 8.0;
  double building_height_max_m = 40.0;
  double tree_spacing_m = 14.0;             // along sidewalks; 0 = no street trees
  double pole_spacing_m = 30.0;             // street lights along sidewalks; 0 = none
  double speed_limit_mps = 13.9;            // town roads
  double highway_length_m = 1200.0;         // highway_merge only
  int highway_lanes = 6;                    // highway_merge: total lanes, both directions
  double ramp_angle_deg = 12.0;
  double highway_speed_limit_mps = 27.8;

  template <class V>
  void visit(V& v) {
    v("layout", layout);
    v("blocks_x", blocks_x, Range{1, 12});
    v("blocks_y", blocks_y, Range{1, 12});
    v("block_min_m", block_min_m, Range{40, 400});
    v("block_max_m", block_max_m, Range{40, 400});
    v("lanes_min", lanes_min, Range{2, 6});
    v("lanes_max", lanes_max, Range{2, 6});
    v("lane_width_m", lane_width_m, Range{2.5, 5});
    v("sidewalk_width_m", sidewalk_width_m, Range{2.5, 8});
    v("t_intersection_fraction", t_intersection_fraction, Range{0, 0.6});
    v("parking_fraction", parking_fraction, Range{0, 1});
    v("parked_per_100m", parked_per_100m, Range{0, 16});
    v("building_height_min_m", building_height_min_m, Range{2, 200});
    v("building_height_max_m", building_height_max_m, Range{2, 200});
    v("tree_spacing_m", tree_spacing_m, Range{0, 200});
    v("pole_spacing_m", pole_spacing_m, Range{0, 500});
    v("speed_limit_mps", speed_limit_mps, Range{2, 40});
    v("highway_length_m", highway_length_m, Range{300, 5000});
    v("highway_lanes", highway_lanes, Range{4, 6});
    v("ramp_angle_deg", ramp_angle_deg, Range{5, 30});
    v("highway_speed_limit_mps", highway_speed_limit_mps, Range{5, 45});
  }
};

struct TrafficConfig {
  int vehicles = 80;                 // background vehicles (connected vehicles come on top)
  int cyclists = 6;
  int pedestrians = 40;
  // Class mix of background vehicles (normalised): car, van, truck, bus.
  std::array<double, 4> class_mix{0.72, 0.13, 0.09, 0.06};
  double min_gap_m = 2.0;            // bumper-to-bumper standstill gap
  double time_headway_s = 1.3;       // IDM desired time gap
  double max_accel_mps2 = 1.8;
  double comfort_decel_mps2 = 3.0;
  double warmup_s = 6.0;             // simulated before the first returned frame

  template <class V>
  void visit(V& v) {
    v("vehicles", vehicles, Range{0, 2000});
    v("cyclists", cyclists, Range{0, 500});
    v("pedestrians", pedestrians, Range{0, 2000});
    v("class_mix", class_mix, Range{0, 1});
    v("min_gap_m", min_gap_m, Range{0.5, 10});
    v("time_headway_s", time_headway_s, Range{0.3, 5});
    v("max_accel_mps2", max_accel_mps2, Range{0.3, 6});
    v("comfort_decel_mps2", comfort_decel_mps2, Range{0.5, 9});
    v("warmup_s", warmup_s, Range{0, 120});
  }
};

struct LidarConfig {
  LidarModel model = LidarModel::Hdl64;
  int channels = 64;                        // must match the model's channel count unless model: custom
  double fov_up_deg = 2.0;                  // custom only
  double fov_down_deg = -24.8;              // custom only
  std::vector<double> vertical_angles_deg;  // custom only; overrides channels/fov when non-empty
  int azimuth_steps = 1800;                 // rays per channel per revolution
  double range_m = 120.0;
  double min_range_m = 1.0;
  double range_noise_m = 0.02;              // Gaussian sigma on each return's range
  double dropout = 0.04;                    // probability that a return is lost
  double mount_height_m = 1.9;              // vehicles: above the ground (roof); RSUs: pole height
  double intensity_noise = 0.02;            // Gaussian sigma added to intensity in [0, 1]

  template <class V>
  void visit(V& v) {
    v("model", model);
    v("channels", channels, Range{16, 128});
    v("fov_up_deg", fov_up_deg, Range{-89, 89});
    v("fov_down_deg", fov_down_deg, Range{-89, 89});
    v("vertical_angles_deg", vertical_angles_deg, Range{-89, 89});
    v("azimuth_steps", azimuth_steps, Range{64, 8192});
    v("range_m", range_m, Range{5, 400});
    v("min_range_m", min_range_m, Range{0, 20});
    v("range_noise_m", range_noise_m, Range{0, 1});
    v("dropout", dropout, Range{0, 0.9});
    v("mount_height_m", mount_height_m, Range{0.5, 15});
    v("intensity_noise", intensity_noise, Range{0, 0.5});
  }
};

// OPV2V-style surround cameras (front, right, left, back), rendered by the LiDAR's ray caster.
struct CameraConfig {
  bool enabled = false;
  int count = 4;          // 1..4: front, right, left, back
  int width = 800, height = 600;
  double fov_deg = 100.0; // horizontal
  bool depth = true;      // also render a depth image (z-depth in metres, 0 = no hit)
  bool shadows = true;

  template <class V>
  void visit(V& v) {
    v("enabled", enabled);
    v("count", count, Range{1, 4});
    v("width", width, Range{16, 4096});
    v("height", height, Range{16, 4096});
    v("fov_deg", fov_deg, Range{20, 150});
    v("depth", depth);
    v("shadows", shadows);
  }
};

struct AgentsConfig {
  int connected_vehicles = 3;       // CAVs (cars in traffic carrying a LiDAR); the first one is the ego
  int rsus = 1;                     // roadside units at distinct intersections
  double spawn_radius_m = 70.0;     // CAVs start within this distance of the focus intersection
  double roam_radius_m = 120.0;     // CAVs prefer turns that keep them within this distance of the focus
  double label_range_m = 100.0;     // an agent's labels_world lists objects within this BEV distance
  LidarConfig vehicle_lidar{};
  LidarConfig rsu_lidar{LidarModel::Rsu, 40, 2.0, -25.0, {}, 1800, 120.0, 1.0, 0.02, 0.04, 5.0, 0.02};
  CameraConfig cameras{};
  // Per-agent sensor rig, in agent order (connected vehicles, ego first, then RSUs); agents beyond the list are
  // `auto` (LiDAR, plus the cameras when cameras.enabled). `camera` agents scan no LiDAR (empty cloud, their labels
  // count 0 returns); `lidar` agents render no camera. E.g. [lidar+camera, camera, lidar, lidar]: ego with both,
  // one camera-only car, one LiDAR car, a LiDAR RSU. `none` is not allowed here (a replay leaves agents out).
  std::vector<SensorSet> sensors;

  SensorSet sensors_of(std::size_t agent_index) const {
    return agent_index < sensors.size() ? sensors[agent_index] : SensorSet::Auto;
  }
  bool scans_lidar(std::size_t agent_index) const { return uses_lidar(sensors_of(agent_index)); }
  bool renders_cameras(std::size_t agent_index) const {
    const SensorSet s = sensors_of(agent_index);
    return s == SensorSet::Auto ? cameras.enabled : uses_cameras(s);
  }

  template <class V>
  void visit(V& v) {
    v("connected_vehicles", connected_vehicles, Range{1, 64});
    v("rsus", rsus, Range{0, 32});
    v("spawn_radius_m", spawn_radius_m, Range{10, 1000});
    v("roam_radius_m", roam_radius_m, Range{10, 5000});
    v("label_range_m", label_range_m, Range{10, 400});
    v("vehicle_lidar", vehicle_lidar);
    v("rsu_lidar", rsu_lidar);
    v("cameras", cameras);
    v("sensors", sensors);
  }
};

// GPS / localisation noise: the noisy pose = true pose ⊕ N(0, sigma) on x, y, z and yaw.
struct NoiseConfig {
  double position_sigma_m = 0.2;
  double height_sigma_m = 0.05;
  double heading_sigma_deg = 0.2;
  double rsu_position_sigma_m = 0.02;   // surveyed RSU poses are much better

  template <class V>
  void visit(V& v) {
    v("position_sigma_m", position_sigma_m, Range{0, 10});
    v("height_sigma_m", height_sigma_m, Range{0, 5});
    v("heading_sigma_deg", heading_sigma_deg, Range{0, 20});
    v("rsu_position_sigma_m", rsu_position_sigma_m, Range{0, 10});
  }
};

struct SimConfig {
  std::string name = "urban";       // scenario name prefix
  TownConfig town{};
  TrafficConfig traffic{};
  AgentsConfig agents{};
  NoiseConfig noise{};

  template <class V>
  void visit(V& v) {
    v("name", name);
    v("town", town);
    v("traffic", traffic);
    v("agents", agents);
    v("noise", noise);
  }
  // Cross-field rules (called by validate_config): throws ConfigError naming the key.
  void check(const std::string& file) const;
};

// Built-in configs usable without YAML: "urban", "suburban", "highway", "tiny".
// Throws std::invalid_argument listing the names for anything else.
SimConfig preset(std::string_view name);
std::vector<std::string> preset_names();

// A compact fleet (OPV2V's setting: every connected agent within the 70 m communication range of the ego): the
// CAVs spawn within 30 m of the focus intersection (highway: 90 m, where the lane slots near its merge are) and the
// warm-up is 0.5 s, so they have not driven apart when the first frame is returned. The town, the traffic and the
// sensors are unchanged. The presets spread the CAVs over 70-120 m and warm up for 6-10 s, so an ego hears one
// peer or none in most frames. On the highway the RSU stands about 90 m from the ego and CAVs driving the other
// way leave range: 1-2 peers there.
void make_fleet_compact(SimConfig& cfg);

// LiDAR presets: "hdl64", "vlp32", "os128", "rsu" (throws std::invalid_argument listing the names otherwise).
LidarConfig lidar_preset(std::string_view name);

// The elevation angles (degrees, top to bottom) a LiDAR config fires.
std::vector<double> lidar_vertical_angles_deg(const LidarConfig& cfg);

}  // namespace v2x::sim
