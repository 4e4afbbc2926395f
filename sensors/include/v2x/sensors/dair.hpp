#pragma once
// DAIR-V2X-C (cooperative vehicle-infrastructure) reader. Layout (DAIR-V2X data/README.md):
//   cooperative/data_info.json (or selected_data_info.json)  pairs: vehicle_pointcloud_path, infrastructure_pointcloud_path,
//                                                           cooperative_label_path, system_error_offset {delta_x, delta_y}
//   vehicle-side/velodyne/<v>.pcd, vehicle-side/label/lidar/<v>.json               (vehicle LiDAR frame)
//   vehicle-side/calib/lidar_to_novatel/<v>.json, vehicle-side/calib/novatel_to_world/<v>.json
//   infrastructure-side/velodyne/<i>.pcd, infrastructure-side/label/virtuallidar/<i>.json (roadside LiDAR frame)
//   infrastructure-side/calib/virtuallidar_to_world/<i>.json
//   cooperative/calib/lidar_i2v/<v>.json   (roadside LiDAR → vehicle LiDAR, offset already applied)
// Mapping into CoopFrame (docs/datasets.md): the vehicle is agent 0 and the ego; the roadside unit is agent -1
// with is_rsu = true. With the world calibrations present, world = DAIR's world frame and the roadside pose gets
// system_error_offset added to its x/y translation (DAIR-V2X tools/dataset_converter/calib_i2v.py). Without them,
// world = the vehicle LiDAR frame: T_world_vehicle = I and T_world_rsu = lidar_i2v.
#include <filesystem>
#include <string>
#include <vector>

#include "v2x/sensors/dataset.hpp"

namespace v2x::sensors {

inline constexpr AgentId kDairVehicleId = 0;
inline constexpr AgentId kDairInfrastructureId = -1;
// Object ids: vehicle-side label k → k, roadside label k → kDairInfraIdBase + k, cooperative label k → kDairCoopIdBase + k.
inline constexpr std::int64_t kDairInfraIdBase = 100000;
inline constexpr std::int64_t kDairCoopIdBase = 200000;

struct DairReadOptions {
  bool load_clouds = true;
  // Ground truth when the pair has no cooperative label file: the vehicle-side boxes plus every roadside box with no
  // vehicle-side box of the same class within this distance (metres, BEV centre distance, after the calibration).
  double merge_distance_m = 1.0;
  bool prefer_world_calib = true;  // world calibrations (with system_error_offset) over lidar_i2v when both exist
};

struct DairPair {
  std::string vehicle_frame, infrastructure_frame;  // "017314", "001366"
  std::filesystem::path vehicle_pcd, infrastructure_pcd, cooperative_label;
  double delta_x_m = 0, delta_y_m = 0;  // system_error_offset ("" in data_info → 0)
  bool has_offset = false;
};

class DairDataset : public CoopDataset {
 public:
  // root: the folder holding cooperative/, vehicle-side/, infrastructure-side/. Pairs whose two point clouds are
  // both absent are not indexed (a selected subset of a larger data_info.json); see absent_pairs().
  // Throws std::runtime_error naming the file when data_info is missing or malformed.
  explicit DairDataset(std::filesystem::path root, DairReadOptions opt = {});
  std::size_t size() const override { return pairs_.size(); }
  FrameRef ref(std::size_t i) const override;
  Expected<CoopFrame> load(std::size_t i) const override;
  const char* format() const override { return "dair"; }
  std::size_t absent_pairs() const { return absent_; }
  const std::filesystem::path& data_info_file() const { return data_info_; }
  const DairPair& pair(std::size_t i) const { return pairs_.at(i); }

 private:
  std::filesystem::path root_, data_info_;
  DairReadOptions opt_;
  std::vector<DairPair> pairs_;
  std::size_t absent_ = 0;
};

// Reads one DAIR single-side label file (boxes in that side's LiDAR frame). Car/Van/Truck/Bus/Pedestrian/Cyclist map
// to their classes, Motorcyclist/Tricyclist to Cyclist, Barrowlist to Pedestrian, Trafficcone to Unknown; any other
// type is an error naming the file and the field.
Expected<std::vector<Object3D>> read_dair_labels(const std::filesystem::path& file, std::int64_t first_id);
// Reads a DAIR calibration JSON ({rotation 3×3, translation 3×1}, optionally under "transform"): p_to = R p_from + t.
Expected<Pose> read_dair_calib(const std::filesystem::path& file);

}  // namespace v2x::sensors
