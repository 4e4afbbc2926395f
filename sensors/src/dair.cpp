#include "v2x/sensors/dair.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <tuple>
#include <fstream>
#include <stdexcept>

#include "file_util.hpp"
#include "v2x/sensors/pcd.hpp"

namespace v2x::sensors {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Error ferr(ErrorCode c, const fs::path& file, const std::string& field, const std::string& what) {
  return make_error(c, file.string() + ": field '" + field + "': " + what);
}

Expected<json> load_json(const fs::path& file) {
  std::string bytes;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return make_error(ErrorCode::Missing, file.string() + ": no such file");
  if (!detail::read_file(file, bytes)) return make_error(ErrorCode::Io, file.string() + ": cannot read");
  try {
    return json::parse(bytes);
  } catch (const json::parse_error& e) {
    return make_error(ErrorCode::Corrupt, file.string() + ": malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  }
}

bool num(const json& j, double& out) {
  if (j.is_number()) {
    out = j.get<double>();
    return std::isfinite(out);
  }
  if (j.is_string()) {  // DAIR's infrastructure labels quote some numbers ("0")
    try {
      std::size_t used = 0;
      out = std::stod(j.get<std::string>(), &used);
      return used == j.get<std::string>().size() && std::isfinite(out);
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;
}

// "vehicle-side/velodyne/017314.pcd" → "017314"
std::string frame_id(const std::string& path) { return fs::path(path).stem().string(); }

Pose with_offset(Pose T, double dx, double dy) {
  T.translation().x() += dx;
  T.translation().y() += dy;
  return T;
}

}  // namespace

Expected<Pose> read_dair_calib(const fs::path& file) {
  auto j = load_json(file);
  if (!j) return j.error();
  const json* c = &*j;
  if (c->is_object() && c->contains("transform")) c = &(*c)["transform"];
  if (!c->is_object() || !c->contains("rotation")) return ferr(ErrorCode::Missing, file, "rotation", "missing");
  if (!c->contains("translation")) return ferr(ErrorCode::Missing, file, "translation", "missing");
  const json& R = (*c)["rotation"];
  const json& t = (*c)["translation"];
  Eigen::Matrix3d Rm;
  Eigen::Vector3d tv;
  if (!R.is_array() || R.size() != 3) return ferr(ErrorCode::Corrupt, file, "rotation", "expected a 3x3 matrix");
  for (int r = 0; r < 3; ++r) {
    if (!R[r].is_array() || R[r].size() != 3) return ferr(ErrorCode::Corrupt, file, "rotation", "expected a 3x3 matrix");
    for (int k = 0; k < 3; ++k)
      if (!num(R[r][k], Rm(r, k))) return ferr(ErrorCode::Corrupt, file, "rotation", "not a number");
  }
  if (!t.is_array() || t.size() != 3) return ferr(ErrorCode::Corrupt, file, "translation", "expected 3 values");
  for (int r = 0; r < 3; ++r) {
    const json& e = t[r].is_array() ? (t[r].size() == 1 ? t[r][0] : json()) : t[r];  // [[x],[y],[z]] or [x,y,z]
    if (!num(e, tv(r))) return ferr(ErrorCode::Corrupt, file, "translation", "not a number");
  }
  if ((Rm.transpose() * Rm - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff() > 1e-3)
    return ferr(ErrorCode::Corrupt, file, "rotation", "not a rotation matrix");
  return pose_from_rotation_translation(Rm, tv);
}

Expected<std::vector<Object3D>> read_dair_labels(const fs::path& file, std::int64_t first_id) {
  auto j = load_json(file);
  if (!j) return j.error();
  if (!j->is_array()) return make_error(ErrorCode::Corrupt, file.string() + ": expected a list of objects");
  std::vector<Object3D> out;
  for (std::size_t k = 0; k < j->size(); ++k) {
    const json& o = (*j)[k];
    const std::string f = "[" + std::to_string(k) + "]";
    if (!o.is_object() || !o.contains("type") || !o["type"].is_string()) return ferr(ErrorCode::Corrupt, file, f + ".type", "missing or not a string");
    const std::string type = o["type"].get<std::string>();
    std::string lower = type;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    ObjectClass cls;
    if (lower == "motorcyclist" || lower == "tricyclist") cls = ObjectClass::Cyclist;
    else if (lower == "barrowlist") cls = ObjectClass::Pedestrian;
    else if (lower == "trafficcone") cls = ObjectClass::Unknown;
    else {
      cls = object_class_from_string(type.c_str());
      if (cls == ObjectClass::Unknown) return ferr(ErrorCode::Corrupt, file, f + ".type", "unknown type '" + type + "'");
    }
    if (!o.contains("3d_dimensions") || !o["3d_dimensions"].is_object()) return ferr(ErrorCode::Missing, file, f + ".3d_dimensions", "missing");
    if (!o.contains("3d_location") || !o["3d_location"].is_object()) return ferr(ErrorCode::Missing, file, f + ".3d_location", "missing");
    const json& d = o["3d_dimensions"];
    const json& l = o["3d_location"];
    Object3D obj;
    obj.id = first_id + static_cast<std::int64_t>(k);
    obj.cls = cls;
    double x, y, z, h, w, len, rot;
    for (auto [key, node, dst] : {std::tuple{"3d_location.x", &l, &x}, std::tuple{"3d_location.y", &l, &y}, std::tuple{"3d_location.z", &l, &z},
                                 std::tuple{"3d_dimensions.h", &d, &h}, std::tuple{"3d_dimensions.w", &d, &w}, std::tuple{"3d_dimensions.l", &d, &len}}) {
      const std::string sub = std::string(key).substr(std::string(key).find('.') + 1);
      if (!node->contains(sub) || !num((*node)[sub], *dst)) return ferr(ErrorCode::Corrupt, file, f + "." + key, "missing or not a number");
    }
    if (!o.contains("rotation") || !num(o["rotation"], rot)) return ferr(ErrorCode::Corrupt, file, f + ".rotation", "missing or not a number");
    if (h < 0 || w < 0 || len < 0) return ferr(ErrorCode::Corrupt, file, f + ".3d_dimensions", "negative size");
    // DAIR LiDAR labels: 3d_location is the box centre, rotation the yaw of the length axis about +z (radians).
    obj.box.center = Eigen::Vector3d(x, y, z);
    obj.box.l_m = len;
    obj.box.w_m = w;
    obj.box.h_m = h;
    obj.box.yaw_rad = wrap_angle(rot);
    out.push_back(obj);
  }
  return out;
}

DairDataset::DairDataset(fs::path root, DairReadOptions opt) : root_(std::move(root)), opt_(opt) {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) throw std::runtime_error(root_.string() + ": not a folder");
  for (const char* name : {"data_info.json", "selected_data_info.json"}) {
    if (fs::is_regular_file(root_ / "cooperative" / name, ec)) {
      data_info_ = root_ / "cooperative" / name;
      break;
    }
  }
  if (data_info_.empty())
    throw std::runtime_error((root_ / "cooperative").string() + ": neither data_info.json nor selected_data_info.json found");
  auto j = load_json(data_info_);
  if (!j) throw std::runtime_error(j.error().message);
  if (!j->is_array()) throw std::runtime_error(data_info_.string() + ": expected a list of pairs");
  for (std::size_t k = 0; k < j->size(); ++k) {
    const json& e = (*j)[k];
    const std::string f = "[" + std::to_string(k) + "]";
    for (const char* key : {"vehicle_pointcloud_path", "infrastructure_pointcloud_path"})
      if (!e.is_object() || !e.contains(key) || !e[key].is_string())
        throw std::runtime_error(data_info_.string() + ": field '" + f + "." + key + "': missing or not a string");
    DairPair p;
    p.vehicle_pcd = root_ / e["vehicle_pointcloud_path"].get<std::string>();
    p.infrastructure_pcd = root_ / e["infrastructure_pointcloud_path"].get<std::string>();
    p.vehicle_frame = frame_id(e["vehicle_pointcloud_path"].get<std::string>());
    p.infrastructure_frame = frame_id(e["infrastructure_pointcloud_path"].get<std::string>());
    if (e.contains("cooperative_label_path") && e["cooperative_label_path"].is_string())
      p.cooperative_label = root_ / e["cooperative_label_path"].get<std::string>();
    if (e.contains("system_error_offset") && e["system_error_offset"].is_object()) {
      const json& s = e["system_error_offset"];
      if (!s.contains("delta_x") || !num(s["delta_x"], p.delta_x_m) || !s.contains("delta_y") || !num(s["delta_y"], p.delta_y_m))
        throw std::runtime_error(data_info_.string() + ": field '" + f + ".system_error_offset': needs numeric delta_x and delta_y");
      p.has_offset = true;
    } else if (e.contains("system_error_offset") && !(e["system_error_offset"].is_string() && e["system_error_offset"].get<std::string>().empty())) {
      throw std::runtime_error(data_info_.string() + ": field '" + f + ".system_error_offset': expected {delta_x, delta_y} or \"\"");
    }
    if (!fs::exists(p.vehicle_pcd, ec) && !fs::exists(p.infrastructure_pcd, ec)) {
      ++absent_;
      continue;
    }
    pairs_.push_back(std::move(p));
  }
  if (pairs_.empty()) throw std::runtime_error(data_info_.string() + ": no pair whose point clouds exist under " + root_.string());
}

FrameRef DairDataset::ref(std::size_t i) const {
  const DairPair& p = pairs_.at(i);
  return FrameRef{p.vehicle_frame + "_" + p.infrastructure_frame, p.vehicle_frame, {kDairVehicleId, kDairInfrastructureId}};
}

Expected<CoopFrame> DairDataset::load(std::size_t i) const {
  const DairPair& p = pairs_.at(i);
  CoopFrame f;
  f.scenario = p.vehicle_frame + "_" + p.infrastructure_frame;
  f.timestamp = p.vehicle_frame;
  f.ego = kDairVehicleId;
  AgentFrame veh, inf;
  veh.id = kDairVehicleId;
  inf.id = kDairInfrastructureId;
  inf.is_rsu = true;

  // Poses.
  const fs::path l2n = root_ / "vehicle-side/calib/lidar_to_novatel" / (p.vehicle_frame + ".json");
  const fs::path n2w = root_ / "vehicle-side/calib/novatel_to_world" / (p.vehicle_frame + ".json");
  const fs::path v2w = root_ / "infrastructure-side/calib/virtuallidar_to_world" / (p.infrastructure_frame + ".json");
  const fs::path i2v = root_ / "cooperative/calib/lidar_i2v" / (p.vehicle_frame + ".json");
  std::error_code ec;
  const bool have_world = fs::exists(l2n, ec) || fs::exists(n2w, ec) || fs::exists(v2w, ec);
  const bool have_i2v = fs::exists(i2v, ec);
  const bool world_is_dair = have_world && (opt_.prefer_world_calib || !have_i2v);
  if (world_is_dair) {
    auto a = read_dair_calib(l2n);
    if (!a) return a.error();
    auto b = read_dair_calib(n2w);
    if (!b) return b.error();
    auto c = read_dair_calib(v2w);
    if (!c) return c.error();
    veh.T_world_lidar = *b * *a;  // world ← novatel ← lidar
    // DAIR-V2X calib_i2v.py: the offset is added to virtuallidar_to_world's x/y translation.
    inf.T_world_lidar = with_offset(*c, p.delta_x_m, p.delta_y_m);
  } else if (have_i2v) {
    auto c = read_dair_calib(i2v);
    if (!c) return c.error();
    veh.T_world_lidar = Pose::Identity();  // world = vehicle LiDAR frame
    inf.T_world_lidar = *c;
  } else {
    return make_error(ErrorCode::Missing, i2v.string() + ": no lidar_i2v and no world calibration (" + v2w.string() + ") for this pair");
  }

  if (opt_.load_clouds) {
    auto vc = read_pcd(p.vehicle_pcd);
    if (!vc) return vc.error();
    auto ic = read_pcd(p.infrastructure_pcd);
    if (!ic) return ic.error();
    veh.cloud = std::move(*vc);
    inf.cloud = std::move(*ic);
  }

  // Labels (each side's LiDAR frame → world).
  auto vl = read_dair_labels(root_ / "vehicle-side/label/lidar" / (p.vehicle_frame + ".json"), 0);
  if (!vl) return vl.error();
  auto il = read_dair_labels(root_ / "infrastructure-side/label/virtuallidar" / (p.infrastructure_frame + ".json"), kDairInfraIdBase);
  if (!il) return il.error();
  for (auto o : *vl) {
    o.box = o.box.transformed(veh.T_world_lidar);
    veh.labels_world.push_back(o);
  }
  for (auto o : *il) {
    o.box = o.box.transformed(inf.T_world_lidar);
    inf.labels_world.push_back(o);
  }

  // Ground truth.
  if (!p.cooperative_label.empty() && fs::exists(p.cooperative_label, ec)) {
    auto cj = load_json(p.cooperative_label);
    if (!cj) return cj.error();
    if (!cj->is_array()) return make_error(ErrorCode::Corrupt, p.cooperative_label.string() + ": expected a list of objects");
    for (std::size_t k = 0; k < cj->size(); ++k) {
      const json& o = (*cj)[k];
      const std::string fld = "[" + std::to_string(k) + "]";
      if (o.is_object() && o.contains("world_8_points")) {
        // 8 world-frame corners: centre = mean; the bottom face (4 lowest z) gives length/width/yaw.
        if (!world_is_dair)
          return ferr(ErrorCode::Missing, p.cooperative_label, fld + ".world_8_points", "world-frame label needs the world calibrations");
        const json& c = o["world_8_points"];
        if (!c.is_array() || c.size() != 8) return ferr(ErrorCode::Corrupt, p.cooperative_label, fld + ".world_8_points", "expected 8 corners");
        std::array<Eigen::Vector3d, 8> pts;
        for (int q = 0; q < 8; ++q) {
          if (!c[q].is_array() || c[q].size() != 3) return ferr(ErrorCode::Corrupt, p.cooperative_label, fld + ".world_8_points", "expected [x, y, z]");
          for (int r = 0; r < 3; ++r)
            if (!num(c[q][r], pts[static_cast<std::size_t>(q)](r))) return ferr(ErrorCode::Corrupt, p.cooperative_label, fld + ".world_8_points", "not a number");
        }
        std::sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.z() < b.z(); });
        Eigen::Vector3d centre = Eigen::Vector3d::Zero();
        for (const auto& q : pts) centre += q / 8.0;
        // Edges from the lowest corner to the two nearest other bottom corners.
        std::vector<Eigen::Vector2d> e;
        for (int q = 1; q < 4; ++q) e.push_back((pts[static_cast<std::size_t>(q)] - pts[0]).head<2>());
        std::sort(e.begin(), e.end(), [](const auto& a, const auto& b) { return a.norm() < b.norm(); });
        Object3D obj;
        obj.id = kDairCoopIdBase + static_cast<std::int64_t>(k);
        const std::string type = o.contains("type") && o["type"].is_string() ? o["type"].get<std::string>() : "Car";
        obj.cls = object_class_from_string(type.c_str());
        if (obj.cls == ObjectClass::Unknown) return ferr(ErrorCode::Corrupt, p.cooperative_label, fld + ".type", "unknown type '" + type + "'");
        obj.box.center = centre;
        obj.box.l_m = e[1].norm();
        obj.box.w_m = e[0].norm();
        obj.box.h_m = pts[7].z() - pts[0].z();
        obj.box.yaw_rad = std::atan2(e[1].y(), e[1].x());
        f.gt_world.push_back(obj);
      } else {
        // Vehicle-LiDAR-frame cooperative label (single-side schema).
        auto one = read_dair_labels(p.cooperative_label, kDairCoopIdBase);
        if (!one) return one.error();
        f.gt_world.clear();
        for (auto q : *one) {
          q.box = q.box.transformed(veh.T_world_lidar);
          f.gt_world.push_back(q);
        }
        break;
      }
    }
  } else {
    // No cooperative label: vehicle-side boxes, plus roadside boxes that match none of them (our rule).
    f.gt_world = veh.labels_world;
    for (const auto& o : inf.labels_world) {
      bool dup = false;
      for (const auto& v : veh.labels_world)
        if (v.cls == o.cls && (v.box.center - o.box.center).head<2>().norm() < opt_.merge_distance_m) dup = true;
      if (!dup) f.gt_world.push_back(o);
    }
  }
  f.agents.push_back(std::move(veh));
  f.agents.push_back(std::move(inf));
  return f;
}

}  // namespace v2x::sensors
