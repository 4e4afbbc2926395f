#include "v2x/sim/config.hpp"

#include <algorithm>
#include <stdexcept>

namespace v2x::sim {
namespace {

std::vector<double> uniform_angles(int n, double up, double down) {
  std::vector<double> a(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) a[i] = n == 1 ? up : up + (down - up) * i / (n - 1);
  return a;
}

// Velodyne HDL-64E S2: upper block +2.0° … −8.33° in 1/3° steps, lower block −8.83° … −24.33° in 1/2° steps.
std::vector<double> hdl64_angles() {
  std::vector<double> a;
  for (int i = 0; i < 32; ++i) a.push_back(2.0 - i / 3.0);
  for (int i = 0; i < 32; ++i) a.push_back(-8.83 - 0.5 * i);
  return a;
}

// Velodyne VLP-32C: dense around the horizon, sparse towards ±15°/−25°.
std::vector<double> vlp32_angles() {
  std::vector<double> a = {15.0,   10.333, 7.0,    4.667,  3.333,  2.333,  1.667,  1.333,  1.0,    0.667,  0.333,
                           0.0,    -0.333, -0.667, -1.0,   -1.333, -1.667, -2.0,   -2.333, -2.667, -3.0,   -3.333,
                           -3.667, -4.0,   -4.667, -5.333, -6.148, -7.254, -8.843, -11.31, -15.639, -25.0};
  return a;
}

int model_channels(LidarModel m) {
  switch (m) {
    case LidarModel::Hdl64: return 64;
    case LidarModel::Vlp32: return 32;
    case LidarModel::Os128: return 128;
    case LidarModel::Rsu: return 40;
    default: return -1;
  }
}

void check_lidar(const LidarConfig& l, const std::string& file, const std::string& key) {
  if (l.min_range_m >= l.range_m)
    throw ConfigError(file, key + ".min_range_m", "must be below range_m (" + std::to_string(l.range_m) + ")");
  if (l.model == LidarModel::Custom) {
    if (l.vertical_angles_deg.empty() && l.fov_down_deg >= l.fov_up_deg)
      throw ConfigError(file, key + ".fov_down_deg", "must be below fov_up_deg");
    if (!l.vertical_angles_deg.empty() && static_cast<int>(l.vertical_angles_deg.size()) != l.channels)
      throw ConfigError(file, key + ".vertical_angles_deg",
                        "lists " + std::to_string(l.vertical_angles_deg.size()) + " angles but channels is " +
                            std::to_string(l.channels));
  } else {
    if (l.channels != model_channels(l.model))
      throw ConfigError(file, key + ".channels",
                        "model " + std::string(enum_name(l.model)) + " has " + std::to_string(model_channels(l.model)) +
                            " channels (use model: custom for other counts)");
    if (!l.vertical_angles_deg.empty())
      throw ConfigError(file, key + ".vertical_angles_deg", "only allowed with model: custom");
  }
}

}  // namespace

std::vector<double> lidar_vertical_angles_deg(const LidarConfig& cfg) {
  switch (cfg.model) {
    case LidarModel::Hdl64: return hdl64_angles();
    case LidarModel::Vlp32: return vlp32_angles();
    case LidarModel::Os128: return uniform_angles(128, 22.5, -22.5);
    case LidarModel::Rsu: return uniform_angles(40, 2.0, -25.0);
    default:
      return cfg.vertical_angles_deg.empty() ? uniform_angles(cfg.channels, cfg.fov_up_deg, cfg.fov_down_deg)
                                             : cfg.vertical_angles_deg;
  }
}

void SimConfig::check(const std::string& file) const {
  if (town.lanes_max < town.lanes_min) throw ConfigError(file, "town.lanes_max", "must be ≥ lanes_min");
  if (town.block_max_m < town.block_min_m) throw ConfigError(file, "town.block_max_m", "must be ≥ block_min_m");
  if (town.building_height_max_m < town.building_height_min_m)
    throw ConfigError(file, "town.building_height_max_m", "must be ≥ building_height_min_m");
  if (town.layout == TownLayout::HighwayMerge && traffic.pedestrians > 0)
    throw ConfigError(file, "traffic.pedestrians", "a highway_merge town has no sidewalks; set 0");
  double mix = 0;
  for (double m : traffic.class_mix) mix += m;
  if (traffic.vehicles > 0 && mix <= 0) throw ConfigError(file, "traffic.class_mix", "must not be all zero");
  check_lidar(agents.vehicle_lidar, file, "agents.vehicle_lidar");
  check_lidar(agents.rsu_lidar, file, "agents.rsu_lidar");
  const std::size_t n_agents = static_cast<std::size_t>(agents.connected_vehicles + agents.rsus);
  if (agents.sensors.size() > n_agents)
    throw ConfigError(file, "agents.sensors", "lists " + std::to_string(agents.sensors.size()) + " agents but there are " +
                                                  std::to_string(n_agents) + " (connected_vehicles + rsus)");
  for (std::size_t i = 0; i < agents.sensors.size(); ++i)
    if (agents.sensors[i] == SensorSet::None)
      throw ConfigError(file, "agents.sensors[" + std::to_string(i) + "]",
                        "'none' is for replays; a simulated agent needs a sensor (auto|lidar|camera|lidar+camera)");
}

LidarConfig lidar_preset(std::string_view name) {
  LidarConfig l;
  if (name == "hdl64") {
    l.model = LidarModel::Hdl64, l.channels = 64, l.azimuth_steps = 1800, l.range_m = 120;
  } else if (name == "vlp32") {
    l.model = LidarModel::Vlp32, l.channels = 32, l.azimuth_steps = 1800, l.range_m = 200;
  } else if (name == "os128") {
    l.model = LidarModel::Os128, l.channels = 128, l.azimuth_steps = 2048, l.range_m = 120;
  } else if (name == "rsu") {
    l.model = LidarModel::Rsu, l.channels = 40, l.azimuth_steps = 1800, l.range_m = 150, l.mount_height_m = 5.0;
  } else {
    throw std::invalid_argument("unknown LiDAR preset '" + std::string(name) + "' (choose hdl64, vlp32, os128, rsu)");
  }
  return l;
}

std::vector<std::string> preset_names() { return {"urban", "suburban", "highway", "tiny"}; }

void make_fleet_compact(SimConfig& cfg) {
  cfg.traffic.warmup_s = std::min(cfg.traffic.warmup_s, 0.5);
  cfg.agents.spawn_radius_m = cfg.town.layout == TownLayout::HighwayMerge ? 90.0 : 30.0;
}

SimConfig preset(std::string_view name) {
  SimConfig c;
  c.name = std::string(name);
  c.agents.vehicle_lidar = lidar_preset("hdl64");
  c.agents.rsu_lidar = lidar_preset("rsu");
  if (name == "urban") {
    // Defaults: 4×4 blocks of 70–110 m, 2–4 lanes, 80 vehicles, 6 cyclists, 40 pedestrians, 3 CAVs + 1 RSU.
  } else if (name == "suburban") {
    auto& t = c.town;
    t.layout = TownLayout::Suburban;
    t.blocks_x = 3, t.blocks_y = 3;
    t.block_min_m = 90, t.block_max_m = 140;
    t.lanes_min = 2, t.lanes_max = 2;
    t.parking_fraction = 0.3;
    t.parked_per_100m = 4;
    t.building_height_min_m = 4, t.building_height_max_m = 8;
    t.tree_spacing_m = 10;
    t.pole_spacing_m = 40;
    t.speed_limit_mps = 11.1;
    t.t_intersection_fraction = 0.3;
    c.traffic.vehicles = 45, c.traffic.cyclists = 5, c.traffic.pedestrians = 20;
    c.traffic.class_mix = {0.8, 0.12, 0.05, 0.03};
  } else if (name == "highway") {
    c.town.layout = TownLayout::HighwayMerge;
    c.traffic.vehicles = 70, c.traffic.cyclists = 0, c.traffic.pedestrians = 0;
    c.traffic.class_mix = {0.6, 0.12, 0.22, 0.06};
    c.traffic.warmup_s = 10;
    c.agents.spawn_radius_m = 120;
  } else if (name == "tiny") {
    auto& t = c.town;
    t.blocks_x = 2, t.blocks_y = 2;
    t.block_min_m = 60, t.block_max_m = 70;
    t.lanes_min = 2, t.lanes_max = 2;
    t.t_intersection_fraction = 0.0;
    t.building_height_min_m = 6, t.building_height_max_m = 20;
    c.traffic.vehicles = 10, c.traffic.cyclists = 1, c.traffic.pedestrians = 6;
    c.traffic.warmup_s = 2;
    c.agents.connected_vehicles = 2;
    c.agents.rsus = 1;
    for (LidarConfig* l : {&c.agents.vehicle_lidar, &c.agents.rsu_lidar}) {
      const double h = l->mount_height_m;
      *l = LidarConfig{};
      l->model = LidarModel::Custom;
      l->channels = 16;
      l->fov_up_deg = 2.0;
      l->fov_down_deg = -24.0;
      l->azimuth_steps = 360;
      l->range_m = 80;
      l->mount_height_m = h;
    }
    c.agents.cameras.width = 160;
    c.agents.cameras.height = 120;
  } else {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown simulator preset '" + std::string(name) + "' (choose " + names + ")");
  }
  return c;
}

}  // namespace v2x::sim
