#include "v2x/sensors/kitti.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "v2x/sensors/pcd.hpp"

namespace v2x::sensors {

namespace fs = std::filesystem;

Pose KittiCalib::T_rect_velo() const {
  Pose R = Pose::Identity();
  R.linear() = R0_rect;
  return R * T_cam_velo;
}

Expected<KittiCalib> read_kitti_calib(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return make_error(ErrorCode::Missing, file.string() + ": no such file");
  std::map<std::string, std::vector<double>> kv;
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream vs(line.substr(colon + 1));
    std::vector<double> v;
    std::string tok;
    bool ok = true;
    while (vs >> tok) {
      try {
        std::size_t used = 0;
        v.push_back(std::stod(tok, &used));
        ok = ok && used == tok.size();
      } catch (const std::exception&) {
        ok = false;
      }
    }
    const std::string key = line.substr(0, colon);
    if (!ok) return make_error(ErrorCode::Corrupt, file.string() + ": key '" + key + "': not numbers");
    kv[key] = v;
  }
  KittiCalib c;
  auto need = [&](const char* key, std::size_t n) -> std::optional<Error> {
    auto it = kv.find(key);
    if (it == kv.end()) return make_error(ErrorCode::Missing, file.string() + ": key '" + key + "' missing");
    if (it->second.size() != n)
      return make_error(ErrorCode::Corrupt, file.string() + ": key '" + key + "': expected " + std::to_string(n) + " numbers");
    return std::nullopt;
  };
  if (auto e = need("R0_rect", 9)) return *e;
  if (auto e = need("Tr_velo_to_cam", 12)) return *e;
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) c.R0_rect(r, k) = kv["R0_rect"][static_cast<std::size_t>(r * 3 + k)];
  Eigen::Matrix4d T = Eigen::Matrix4d::Identity();
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 4; ++k) T(r, k) = kv["Tr_velo_to_cam"][static_cast<std::size_t>(r * 4 + k)];
  c.T_cam_velo.matrix() = T;
  if (kv.count("P2") && kv["P2"].size() == 12)
    for (int r = 0; r < 3; ++r)
      for (int k = 0; k < 4; ++k) c.P2(r, k) = kv["P2"][static_cast<std::size_t>(r * 4 + k)];
  return c;
}

Expected<std::vector<Object3D>> read_kitti_labels(const fs::path& file, const KittiCalib& calib) {
  std::ifstream in(file);
  if (!in) return make_error(ErrorCode::Missing, file.string() + ": no such file");
  // Tr_velo_to_cam is rigid only up to calibration rounding; invert the affine map, not the isometry.
  const Eigen::Matrix4d T_velo_rect = calib.T_rect_velo().matrix().inverse();
  std::vector<Object3D> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    const int idx = n++;
    std::istringstream ls(line);
    std::string type;
    if (!(ls >> type)) continue;
    const std::string where = file.string() + ": line " + std::to_string(idx + 1);
    double v[14];
    for (double& x : v)
      if (!(ls >> x) || !std::isfinite(x)) return make_error(ErrorCode::Corrupt, where + ": field '" + type + "': expected 14 numbers after the type");
    if (type == "DontCare") continue;
    ObjectClass cls;
    if (type == "Person_sitting") cls = ObjectClass::Pedestrian;
    else if (type == "Tram" || type == "Misc") cls = ObjectClass::Unknown;
    else {
      cls = object_class_from_string(type.c_str());
      if (cls == ObjectClass::Unknown) return make_error(ErrorCode::Corrupt, where + ": field 'type': unknown value '" + type + "'");
    }
    // v: truncated occluded alpha x1 y1 x2 y2 h w l x y z ry
    const double h = v[7], w = v[8], l = v[9], ry = v[13];
    if (h < 0 || w < 0 || l < 0) return make_error(ErrorCode::Corrupt, where + ": field 'dimensions': negative size");
    const Eigen::Vector4d bottom_rect(v[10], v[11], v[12], 1.0);
    const Eigen::Vector4d centre_rect(v[10], v[11] - h / 2, v[12], 1.0);  // camera y points down
    (void)bottom_rect;
    const Eigen::Vector3d centre = (T_velo_rect * centre_rect).head<3>();
    const Eigen::Vector3d heading_rect(std::cos(ry), 0.0, -std::sin(ry));
    const Eigen::Vector3d heading = T_velo_rect.topLeftCorner<3, 3>() * heading_rect;
    Object3D o;
    o.id = idx;
    o.cls = cls;
    o.box.center = centre;
    o.box.l_m = l;
    o.box.w_m = w;
    o.box.h_m = h;
    o.box.yaw_rad = std::atan2(heading.y(), heading.x());
    out.push_back(o);
  }
  return out;
}

KittiDataset::KittiDataset(fs::path root, KittiReadOptions opt) : opt_(opt) {
  std::error_code ec;
  if (fs::is_directory(root / "velodyne", ec)) split_ = root;
  else if (fs::is_directory(root / "training" / "velodyne", ec)) split_ = root / "training";
  else throw std::runtime_error(root.string() + ": no velodyne/ or training/velodyne/ folder");
  for (const auto& e : fs::directory_iterator(split_ / "velodyne", ec))
    if (e.path().extension() == ".bin") frames_.push_back(e.path().stem().string());
  std::sort(frames_.begin(), frames_.end());
  has_labels_ = fs::is_directory(split_ / "label_2", ec);
  if (frames_.empty()) throw std::runtime_error((split_ / "velodyne").string() + ": no .bin scan");
}

FrameRef KittiDataset::ref(std::size_t i) const { return FrameRef{split_.filename().string(), frames_.at(i), {0}}; }

Expected<CoopFrame> KittiDataset::load(std::size_t i) const {
  const std::string& id = frames_.at(i);
  CoopFrame f;
  f.scenario = split_.filename().string();
  f.timestamp = id;
  f.ego = 0;
  AgentFrame a;
  a.id = 0;
  auto calib = read_kitti_calib(split_ / "calib" / (id + ".txt"));
  if (!calib) return calib.error();
  if (has_labels_) {
    auto labels = read_kitti_labels(split_ / "label_2" / (id + ".txt"), *calib);
    if (!labels) return labels.error();
    a.labels_world = std::move(*labels);
  }
  if (opt_.load_clouds) {
    auto cloud = read_kitti_bin(split_ / "velodyne" / (id + ".bin"));
    if (!cloud) return cloud.error();
    a.cloud = std::move(*cloud);
  }
  f.gt_world = a.labels_world;
  f.agents.push_back(std::move(a));
  return f;
}

}  // namespace v2x::sensors
