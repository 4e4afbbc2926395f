#pragma once
// KITTI object-detection reader (KITTI devkit readme): <split>/velodyne/<id>.bin, label_2/<id>.txt, calib/<id>.txt.
// Labels are in rectified camera coordinates: location = bottom centre (x right, y down, z forward), dimensions
// h w l, rotation_y about camera y. They are converted into the LiDAR frame with R0_rect and Tr_velo_to_cam:
// p_rect = R0_rect · Tr_velo_to_cam · p_velo; centre = bottom centre − h/2 along camera y; yaw_lidar is the heading
// of the object's length axis (cos ry, 0, −sin ry) in camera coordinates, rotated into the LiDAR frame
// (= −ry − π/2 for KITTI's usual calibration).
// Each frame is a CoopFrame with one agent (id 0, ego, T_world_lidar = I): world = the LiDAR frame.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "v2x/sensors/dataset.hpp"

namespace v2x::sensors {

struct KittiCalib {
  Eigen::Matrix3d R0_rect = Eigen::Matrix3d::Identity();
  Pose T_cam_velo = Pose::Identity();  // Tr_velo_to_cam (unrectified camera 0 ← velodyne)
  Eigen::Matrix<double, 3, 4> P2 = Eigen::Matrix<double, 3, 4>::Zero();
  // Rectified camera ← LiDAR.
  Pose T_rect_velo() const;
};

// Errors name the file and the key (R0_rect, Tr_velo_to_cam).
Expected<KittiCalib> read_kitti_calib(const std::filesystem::path& file);
// Boxes in the LiDAR frame, ids = line index. DontCare lines are skipped; Car, Van, Truck, Pedestrian, Cyclist keep
// their class, Person_sitting → Pedestrian, Tram and Misc → Unknown; any other type is an error naming the line.
Expected<std::vector<Object3D>> read_kitti_labels(const std::filesystem::path& file, const KittiCalib& calib);

struct KittiReadOptions {
  bool load_clouds = true;
};

class KittiDataset : public CoopDataset {
 public:
  // root: a split folder holding velodyne/ (e.g. kitti/training) or a folder holding training/.
  explicit KittiDataset(std::filesystem::path root, KittiReadOptions opt = {});
  std::size_t size() const override { return frames_.size(); }
  FrameRef ref(std::size_t i) const override;
  Expected<CoopFrame> load(std::size_t i) const override;
  const char* format() const override { return "kitti"; }

 private:
  std::filesystem::path split_;
  KittiReadOptions opt_;
  std::vector<std::string> frames_;
  bool has_labels_ = false;
};

}  // namespace v2x::sensors
