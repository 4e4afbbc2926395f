#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "file_util.hpp"
#include "opv2v_common.hpp"
#include "v2x/sensors/image_io.hpp"
#include "v2x/sensors/opv2v.hpp"
#include "v2x/sensors/pcd.hpp"

namespace v2x::sensors {

namespace fs = std::filesystem;

namespace {

void emit_seq(YAML::Emitter& e, std::initializer_list<double> v) {
  e << YAML::BeginSeq;
  for (double x : v) e << x;
  e << YAML::EndSeq;
}

void emit_carla(YAML::Emitter& e, const Pose& T) {
  const auto c = pose_to_carla(T);
  emit_seq(e, {c[0], c[1], c[2], c[3], c[4], c[5]});
}

void emit_matrix(YAML::Emitter& e, const Eigen::MatrixXd& m) {
  e << YAML::BeginSeq;
  for (int r = 0; r < m.rows(); ++r) {
    e << YAML::BeginSeq;
    for (int c = 0; c < m.cols(); ++c) e << m(r, c);
    e << YAML::EndSeq;
  }
  e << YAML::EndSeq;
}

// Row-major flat 4×4 (16 numbers): the exact-value keys.
void emit_flat4x4(YAML::Emitter& e, const Pose& T) {
  e << YAML::Flow << YAML::BeginSeq;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) e << T.matrix()(r, c);
  e << YAML::EndSeq;
}

void emit_object(YAML::Emitter& e, const Object3D& o, bool exact) {
  const Box3D& b = o.box;
  const double hx = b.l_m / 2, hy = b.w_m / 2, hz = b.h_m / 2;
  e << YAML::Key << o.id << YAML::Value << YAML::BeginMap;
  // OpenCOOD: pose = location + center, rotation = angle [roll, yaw, pitch] in degrees, extent = half sizes.
  // We put the actor origin at the bottom centre (as CARLA does) and the box centre hz above it.
  e << YAML::Key << "angle" << YAML::Value;
  emit_seq(e, {0.0, rad_to_deg(b.yaw_rad), 0.0});
  e << YAML::Key << "center" << YAML::Value;
  emit_seq(e, {0.0, 0.0, hz});
  e << YAML::Key << "extent" << YAML::Value;
  emit_seq(e, {hx, hy, hz});
  e << YAML::Key << "location" << YAML::Value;
  emit_seq(e, {b.center.x(), b.center.y(), b.center.z() - hz});
  e << YAML::Key << "speed" << YAML::Value << 0.0;  // Object3D carries no speed
  if (exact) {
    e << YAML::Key << kOpv2vExactBoxKey << YAML::Value << YAML::Flow << YAML::BeginSeq << b.center.x() << b.center.y()
      << b.center.z() << b.l_m << b.w_m << b.h_m << b.yaw_rad << YAML::EndSeq;
    e << YAML::Key << kOpv2vClassKey << YAML::Value << to_string(o.cls);
  }
  if (o.lidar_points >= 0) e << YAML::Key << kOpv2vLidarPointsKey << YAML::Value << o.lidar_points;
  e << YAML::EndMap;
}

void emit_objects(YAML::Emitter& e, const std::map<std::int64_t, const Object3D*>& objs, bool exact) {
  e << YAML::BeginMap;
  for (const auto& [id, o] : objs) emit_object(e, *o, exact);
  e << YAML::EndMap;
}

// Camera number N: from a name "camera<N>", else the index.
int camera_number(const CameraFrame& c, std::size_t index) {
  if (c.name.rfind("camera", 0) == 0 && c.name.size() > 6) {
    try {
      std::size_t used = 0;
      const int n = std::stoi(c.name.substr(6), &used);
      if (used == c.name.size() - 6 && n >= 0) return n;
    } catch (const std::exception&) {
    }
  }
  return static_cast<int>(index);
}

int camera_width(const CameraFrame& c) {
  if (!c.image.empty()) return c.image.width;
  if (c.calib.width > 0) return c.calib.width;
  return static_cast<int>(std::lround(2 * c.calib.cx));
}

Image mirror_rgb(const Image& in) {
  Image out = in;
  for (int r = 0; r < in.height; ++r)
    for (int c = 0; c < in.width; ++c)
      for (int k = 0; k < 3; ++k)
        out.rgb[(static_cast<std::size_t>(r) * in.width + c) * 3 + k] =
            in.rgb[(static_cast<std::size_t>(r) * in.width + (in.width - 1 - c)) * 3 + k];
  return out;
}

Image mirror_depth(const Image& in) {
  Image out = in;
  for (int r = 0; r < in.height; ++r)
    for (int c = 0; c < in.width; ++c)
      out.depth_m[static_cast<std::size_t>(r) * in.width + c] =
          in.depth_m[static_cast<std::size_t>(r) * in.width + (in.width - 1 - c)];
  return out;
}

std::string agent_yaml(const CoopFrame& f, const AgentFrame& a, const Opv2vWriteOptions& opt) {
  const std::string who = f.scenario + "/" + std::to_string(a.id) + "/" + f.timestamp;
  std::map<std::int64_t, const Object3D*> vehicles, others;
  std::set<std::int64_t> seen;
  for (const auto& o : a.labels_world) {
    if (o.id < 0) throw std::invalid_argument(who + ": an object without id (OPV2V keys objects by id)");
    if (!seen.insert(o.id).second)
      throw std::invalid_argument(who + ": object id " + std::to_string(o.id) + " listed twice");
    (is_vehicle(o.cls) ? vehicles : others).emplace(o.id, &o);
  }
  YAML::Emitter e;
  e.SetDoublePrecision(17);  // %.17g: every double parses back to the same bits
  e << YAML::BeginMap;
  e << YAML::Key << "RSU" << YAML::Value << a.is_rsu;
  // Cameras, sorted by their number (camera0 < camera1 < ... as PyYAML sorts keys).
  std::map<int, std::size_t> cams;
  for (std::size_t i = 0; i < a.cameras.size(); ++i) cams.emplace(camera_number(a.cameras[i], i), i);
  for (const auto& [n, i] : cams) {
    const CameraFrame& c = a.cameras[i];
    const Pose T_actor_cv = detail::rotation_only(detail::R_actor_cv());
    const Pose T_lidar_actor = c.calib.T_lidar_camera * T_actor_cv.inverse();
    const Pose T_world_actor = c.calib.T_world_camera.value_or(a.T_world_lidar * c.calib.T_lidar_camera) * T_actor_cv.inverse();
    const int W = camera_width(c);
    Eigen::Matrix3d K = Eigen::Matrix3d::Identity();
    K(0, 0) = c.calib.fx;
    K(1, 1) = c.calib.fy;
    K(0, 2) = W - c.calib.cx;  // the stored image is the mirror of ours (see opv2v_common.hpp)
    K(1, 2) = c.calib.cy;
    e << YAML::Key << ("camera" + std::to_string(n)) << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "cords" << YAML::Value;
    emit_carla(e, T_world_actor);
    e << YAML::Key << "extrinsic" << YAML::Value;  // T_actor_lidar: LiDAR coordinates → camera actor coordinates
    emit_matrix(e, T_lidar_actor.inverse().matrix());
    e << YAML::Key << "intrinsic" << YAML::Value;
    emit_matrix(e, K);
    if (opt.write_exact_keys) {
      e << YAML::Key << kOpv2vExactCameraKey << YAML::Value;
      emit_flat4x4(e, c.calib.T_lidar_camera);
    }
    e << YAML::EndMap;
  }
  e << YAML::Key << "ego_speed" << YAML::Value << a.speed_mps * 3.6;  // OPV2V stores km/h
  e << YAML::Key << "lidar_pose" << YAML::Value;
  emit_carla(e, a.T_world_lidar);
  e << YAML::Key << "predicted_ego_pos" << YAML::Value;
  emit_carla(e, a.T_world_lidar_noisy.value_or(a.T_world_lidar));
  e << YAML::Key << "true_ego_pos" << YAML::Value;
  emit_carla(e, a.T_world_lidar);
  if (opt.write_exact_keys) {
    e << YAML::Key << kOpv2vExactPoseKey << YAML::Value;
    emit_flat4x4(e, a.T_world_lidar);
    if (a.T_world_lidar_noisy) {
      e << YAML::Key << kOpv2vExactNoisyPoseKey << YAML::Value;
      emit_flat4x4(e, *a.T_world_lidar_noisy);
    }
  }
  if (!others.empty()) {
    e << YAML::Key << kOpv2vOtherObjectsKey << YAML::Value;
    emit_objects(e, others, opt.write_exact_keys);
  }
  if (opt.write_exact_keys) {
    e << YAML::Key << "v2x_speed_mps" << YAML::Value << a.speed_mps;
    e << YAML::Key << kOpv2vStampKey << YAML::Value << static_cast<long long>(a.stamp_ns);
  }
  e << YAML::Key << "vehicles" << YAML::Value;
  emit_objects(e, vehicles, opt.write_exact_keys);
  e << YAML::EndMap;
  if (!e.good()) throw std::runtime_error(who + ".yaml: YAML emitter error: " + e.GetLastError());
  return std::string(e.c_str()) + "\n";
}

}  // namespace

void write_opv2v_frame(const CoopFrame& f, const fs::path& split_dir, const Opv2vWriteOptions& opt) {
  if (f.scenario.empty() || f.timestamp.empty())
    throw std::invalid_argument("write_opv2v_frame: frame needs a scenario and a timestamp name");
  if (f.timestamp.find("additional") != std::string::npos || f.timestamp.find('/') != std::string::npos)
    throw std::invalid_argument("write_opv2v_frame: timestamp '" + f.timestamp + "' cannot be a frame name");
  for (const auto& a : f.agents) {
    if (a.is_rsu != (a.id < 0))
      throw std::invalid_argument("write_opv2v_frame: agent " + std::to_string(a.id) +
                                  (a.is_rsu ? " is an RSU but its id is not negative" : " is a vehicle with a negative id") +
                                  " (OPV2V/V2XSet marks RSUs by negative ids)");
  }
  for (const auto& a : f.agents) {
    const fs::path dir = split_dir / f.scenario / std::to_string(a.id);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error(dir.string() + ": cannot create folder: " + ec.message());
    PcdWriteOptions popt;
    popt.intensity = PcdIntensity::RgbPacked;
    popt.encoding = opt.compressed_pcd ? PcdEncoding::BinaryCompressed
                    : opt.binary_pcd   ? PcdEncoding::Binary
                                       : PcdEncoding::Ascii;
    popt.write_time = false;  // Open3D-based readers need exactly the OPV2V fields
    write_pcd(a.cloud, dir / (f.timestamp + ".pcd"), popt);
    if (opt.write_cameras) {
      for (std::size_t i = 0; i < a.cameras.size(); ++i) {
        const CameraFrame& c = a.cameras[i];
        const int n = camera_number(c, i);
        if (!c.image.empty()) write_png_rgb(mirror_rgb(c.image), dir / (f.timestamp + "_camera" + std::to_string(n) + ".png"));
        if (c.depth && !c.depth->empty())
          write_depth_png(mirror_depth(*c.depth), dir / (f.timestamp + "_depth" + std::to_string(n) + ".png"));
      }
    }
    // Last: the YAML makes the frame visible to readers.
    detail::write_file_atomic(dir / (f.timestamp + ".yaml"), agent_yaml(f, a, opt));
  }
}

}  // namespace v2x::sensors
