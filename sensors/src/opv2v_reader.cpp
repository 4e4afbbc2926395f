#include <algorithm>
#include <charconv>
#include <cmath>
#include <regex>
#include <set>
#include <stdexcept>
#include <unordered_set>

#include "opv2v_common.hpp"
#include "v2x/sensors/image_io.hpp"
#include "v2x/sensors/opv2v.hpp"
#include "v2x/sensors/pcd.hpp"
#include "yaml_util.hpp"

namespace v2x::sensors {

namespace fs = std::filesystem;
using detail::YamlDoc;

namespace {

constexpr double kExactTolerance = 1e-6;  // the v2x_* keys are used only when they agree with OpenCOOD's keys

std::optional<long long> parse_int(const std::string& s) {
  long long v = 0;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || s.empty()) return std::nullopt;
  return v;
}

std::array<double, 6> arr6(const std::vector<double>& v) { return {v[0], v[1], v[2], v[3], v[4], v[5]}; }

Pose pose_from_flat(const std::vector<double>& v) {
  Pose T;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) T.matrix()(r, c) = v[static_cast<std::size_t>(r * 4 + c)];
  return T;
}

bool near(const Pose& a, const Pose& b) { return (a.matrix() - b.matrix()).cwiseAbs().maxCoeff() <= kExactTolerance; }

// An exact-value 4×4 key, used when present, well-formed and consistent with `fallback`.
Pose exact_or(const YamlDoc& d, const YAML::Node& node, const char* key, const Pose& fallback, bool prefer) {
  if (!prefer || !node[key]) return fallback;
  std::vector<double> v;
  std::optional<Error> err;
  if (!d.numbers(node[key], key, 16, v, err)) return fallback;
  const Pose T = pose_from_flat(v);
  return near(T, fallback) ? T : fallback;
}

Image mirror(const Image& in) {
  Image out = in;
  const int C = in.channels;
  for (int r = 0; r < in.height; ++r)
    for (int c = 0; c < in.width; ++c) {
      const std::size_t dst = static_cast<std::size_t>(r) * in.width + c;
      const std::size_t src = static_cast<std::size_t>(r) * in.width + (in.width - 1 - c);
      if (C == 3)
        for (int k = 0; k < 3; ++k) out.rgb[dst * 3 + k] = in.rgb[src * 3 + k];
      else
        out.depth_m[dst] = in.depth_m[src];
    }
  return out;
}

// Reads `vehicles` (or v2x_other_objects) into world-frame objects.
std::optional<Error> read_objects(const YamlDoc& d, const char* key, bool required, bool prefer_exact,
                                  std::vector<Object3D>& out) {
  const YAML::Node node = d.root()[key];
  if (!node) {
    if (required) return d.error(ErrorCode::Missing, key, "missing");
    return std::nullopt;
  }
  if (node.IsNull()) return std::nullopt;
  if (!node.IsMap()) return d.error(ErrorCode::Corrupt, key, "expected a mapping {id: object}");
  for (const auto& kv : node) {
    const std::string id_str = kv.first.Scalar();
    const std::string f = std::string(key) + "/" + id_str;
    const auto id = parse_int(id_str);
    if (!id) return d.error(ErrorCode::Corrupt, f, "object id is not an integer");
    const YAML::Node& o = kv.second;
    if (!o.IsMap()) return d.error(ErrorCode::Corrupt, f, "expected a mapping");
    std::vector<double> angle, center, extent, location;
    std::optional<Error> err;
    if (!d.numbers(o["angle"], f + "/angle", 3, angle, err) || !d.numbers(o["center"], f + "/center", 3, center, err) ||
        !d.numbers(o["extent"], f + "/extent", 3, extent, err) ||
        !d.numbers(o["location"], f + "/location", 3, location, err))
      return err;
    for (double e : extent)
      if (e < 0) return d.error(ErrorCode::Corrupt, f + "/extent", "negative half size");
    Object3D obj;
    obj.id = *id;
    // OpenCOOD box_utils.project_world_objects: pose = location + center (world axes), rotation = angle as
    // [roll, yaw, pitch] degrees, corners at ± extent (half sizes). Roll and pitch are dropped here (Box3D is
    // yaw-only); OpenCOOD's corner_to_center also reduces the box to one yaw angle.
    obj.box.center = Eigen::Vector3d(location[0] + center[0], location[1] + center[1], location[2] + center[2]);
    obj.box.l_m = 2 * extent[0];
    obj.box.w_m = 2 * extent[1];
    obj.box.h_m = 2 * extent[2];
    obj.box.yaw_rad = wrap_angle(deg_to_rad(angle[1]));
    obj.cls = ObjectClass::Car;  // OPV2V's `vehicles` are all cars for OpenCOOD
    if (o[kOpv2vClassKey]) {
      const std::string name = o[kOpv2vClassKey].Scalar();
      const ObjectClass c = object_class_from_string(name.c_str());
      if (c == ObjectClass::Unknown && name != "Unknown" && name != "unknown")
        return d.error(ErrorCode::Corrupt, f + "/" + kOpv2vClassKey, "unknown class '" + name + "'");
      obj.cls = c;
    }
    if (o[kOpv2vLidarPointsKey]) {
      double v = 0;
      if (!d.number(o[kOpv2vLidarPointsKey], f + "/" + kOpv2vLidarPointsKey, v, err)) return err;
      if (v < 0 || v != std::floor(v)) return d.error(ErrorCode::Corrupt, f + "/" + kOpv2vLidarPointsKey, "not a count");
      obj.lidar_points = static_cast<int>(v);
    }
    if (prefer_exact && o[kOpv2vExactBoxKey]) {
      std::vector<double> b;
      if (d.numbers(o[kOpv2vExactBoxKey], f + "/" + kOpv2vExactBoxKey, 7, b, err)) {
        Box3D eb;
        eb.center = Eigen::Vector3d(b[0], b[1], b[2]);
        eb.l_m = b[3];
        eb.w_m = b[4];
        eb.h_m = b[5];
        eb.yaw_rad = b[6];
        const bool ok = (eb.center - obj.box.center).cwiseAbs().maxCoeff() <= kExactTolerance &&
                        std::abs(eb.l_m - obj.box.l_m) <= kExactTolerance &&
                        std::abs(eb.w_m - obj.box.w_m) <= kExactTolerance &&
                        std::abs(eb.h_m - obj.box.h_m) <= kExactTolerance &&
                        std::abs(wrap_angle(eb.yaw_rad - obj.box.yaw_rad)) <= kExactTolerance;
        if (ok) obj.box = eb;
      }
    }
    out.push_back(obj);
  }
  return std::nullopt;
}

}  // namespace

Expected<AgentFrame> load_opv2v_agent(const fs::path& agent_dir, const std::string& timestamp, const Opv2vReadOptions& opt) {
  const std::string dir_name = agent_dir.filename().string();
  const auto id = parse_int(dir_name);
  if (!id) return make_error(ErrorCode::Corrupt, agent_dir.string() + ": agent folder name is not an integer id");
  auto doc = YamlDoc::load(agent_dir / (timestamp + ".yaml"));
  if (!doc) return doc.error();
  const YamlDoc& d = *doc;
  const YAML::Node& y = d.root();
  AgentFrame a;
  a.id = static_cast<AgentId>(*id);
  // OpenCOOD intermediate_fusion_dataset: infra = int(cav_id) < 0. The YAML's `RSU` flag must be a boolean.
  a.is_rsu = a.id < 0;
  if (y["RSU"]) {
    bool flag = false;
    try {
      flag = y["RSU"].as<bool>();
    } catch (const YAML::Exception&) {
      return d.error(ErrorCode::Corrupt, "RSU", "expected true or false, got '" + y["RSU"].Scalar() + "'");
    }
    (void)flag;
  }
  std::vector<double> lidar_pose;
  std::optional<Error> err;
  if (!d.numbers(y["lidar_pose"], "lidar_pose", 6, lidar_pose, err)) return *err;
  a.T_world_lidar = exact_or(d, y, kOpv2vExactPoseKey, pose_from_carla(arr6(lidar_pose)), opt.prefer_exact_keys);

  // GPS pose: predicted_ego_pos is the noisy estimate of true_ego_pos (both describe the vehicle, not the LiDAR).
  // OpenCOOD itself never reads them (it uses lidar_pose and adds its own noise); we expose the noisy LiDAR pose
  // T_world_lidar_noisy = X(predicted) X(true)^-1 T_world_lidar when the two differ.
  if (y["predicted_ego_pos"] && y["true_ego_pos"]) {
    std::vector<double> pred, truth;
    if (!d.numbers(y["predicted_ego_pos"], "predicted_ego_pos", 6, pred, err)) return *err;
    if (!d.numbers(y["true_ego_pos"], "true_ego_pos", 6, truth, err)) return *err;
    if (pred != truth) {
      const Pose noisy = pose_from_carla(arr6(pred)) * pose_from_carla(arr6(truth)).inverse() * a.T_world_lidar;
      a.T_world_lidar_noisy = exact_or(d, y, kOpv2vExactNoisyPoseKey, noisy, opt.prefer_exact_keys);
    }
  }
  if (y["ego_speed"]) {
    double kmh = 0;
    if (!d.number(y["ego_speed"], "ego_speed", kmh, err)) return *err;
    a.speed_mps = kmh / 3.6;  // OpenCDA records km/h
  }
  if (opt.prefer_exact_keys && y["v2x_speed_mps"]) {
    double v = 0;
    if (d.number(y["v2x_speed_mps"], "v2x_speed_mps", v, err) && std::abs(v * 3.6 - a.speed_mps * 3.6) <= 1e-6) a.speed_mps = v;
    err.reset();
  }
  if (y[kOpv2vStampKey]) {
    try {
      a.stamp_ns = y[kOpv2vStampKey].as<long long>();
    } catch (const YAML::Exception&) {
      return d.error(ErrorCode::Corrupt, kOpv2vStampKey, "expected an integer");
    }
  } else if (auto n = parse_int(timestamp)) {
    a.stamp_ns = static_cast<TimestampNs>(*n) * kOpv2vStepNs;
  }

  // Cameras: keys camera<N>.
  static const std::regex camera_key("camera([0-9]+)");
  std::vector<std::pair<int, std::string>> cam_keys;
  for (const auto& kv : y) {
    const std::string k = kv.first.Scalar();
    std::smatch m;
    if (std::regex_match(k, m, camera_key)) cam_keys.emplace_back(std::stoi(m[1].str()), k);
  }
  std::sort(cam_keys.begin(), cam_keys.end());
  for (const auto& [n, k] : cam_keys) {
    const YAML::Node& c = y[k];
    if (!c.IsMap()) return d.error(ErrorCode::Corrupt, k, "expected a mapping");
    std::vector<double> cords, ext, K;
    if (!d.numbers(c["cords"], k + "/cords", 6, cords, err) || !d.matrix(c["extrinsic"], k + "/extrinsic", 4, 4, ext, err) ||
        !d.matrix(c["intrinsic"], k + "/intrinsic", 3, 3, K, err))
      return *err;
    CameraFrame cam;
    cam.name = "camera" + std::to_string(n);
    const Pose T_actor_cv = detail::rotation_only(detail::R_actor_cv());
    const Pose T_actor_lidar = pose_from_flat(ext);  // OPV2V extrinsic: LiDAR → camera actor coordinates
    cam.calib.T_lidar_camera = exact_or(d, c, kOpv2vExactCameraKey, T_actor_lidar.inverse() * T_actor_cv, opt.prefer_exact_keys);
    cam.calib.T_world_camera = pose_from_carla(arr6(cords)) * T_actor_cv;
    cam.calib.fx = K[0];
    cam.calib.fy = K[4];
    cam.calib.cy = K[5];
    const fs::path png = agent_dir / (timestamp + "_camera" + std::to_string(n) + ".png");
    const fs::path depth_png = agent_dir / (timestamp + "_depth" + std::to_string(n) + ".png");
    std::error_code ec;
    int W = static_cast<int>(std::lround(2 * K[2])), H = static_cast<int>(std::lround(2 * K[5]));
    if (opt.load_cameras && fs::exists(png, ec)) {
      auto img = read_image_rgb(png);
      if (!img) return img.error();
      cam.image = mirror(*img);
      W = img->width;
      H = img->height;
    }
    if (opt.load_cameras && fs::exists(depth_png, ec)) {
      auto dimg = read_depth_png(depth_png);
      if (!dimg) return dimg.error();
      cam.depth = mirror(*dimg);
    }
    cam.calib.width = W;
    cam.calib.height = H;
    cam.calib.cx = W - K[2];  // mirrored image (opv2v_common.hpp)
    a.cameras.push_back(std::move(cam));
  }

  if (auto e = read_objects(d, "vehicles", true, opt.prefer_exact_keys, a.labels_world)) return *e;
  if (auto e = read_objects(d, kOpv2vOtherObjectsKey, false, opt.prefer_exact_keys, a.labels_world)) return *e;

  if (opt.load_clouds) {
    auto cloud = read_pcd(agent_dir / (timestamp + ".pcd"));
    if (!cloud) return cloud.error();
    a.cloud = std::move(*cloud);
  }
  return a;
}

Opv2vDataset::Opv2vDataset(fs::path root, Opv2vReadOptions opt) : root_(std::move(root)), opt_(opt) {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) throw std::runtime_error(root_.string() + ": not a folder");
  auto subdirs = [](const fs::path& p) {
    std::vector<std::string> out;
    std::error_code e;
    for (const auto& entry : fs::directory_iterator(p, e))
      if (entry.is_directory(e)) out.push_back(entry.path().filename().string());
    std::sort(out.begin(), out.end());  // Python sorted() on str: code-point order
    return out;
  };
  // A scenario folder holds agent folders named by integers; a split folder holds scenario folders.
  std::vector<std::string> top = subdirs(root_);
  const bool is_scenario = !top.empty() && std::all_of(top.begin(), top.end(), [](const std::string& s) { return parse_int(s).has_value(); });
  std::vector<fs::path> scenario_dirs;
  if (is_scenario)
    scenario_dirs.push_back(root_);
  else
    for (const auto& s : top) scenario_dirs.push_back(root_ / s);

  for (const auto& sdir : scenario_dirs) {
    Opv2vScenario sc;
    sc.name = sdir.filename().string();
    sc.dir = sdir;
    std::vector<std::string> cavs = subdirs(sdir);
    if (cavs.empty()) throw std::runtime_error(sdir.string() + ": scenario folder holds no agent folder");
    for (const auto& c : cavs)
      if (!parse_int(c)) throw std::runtime_error((sdir / c).string() + ": agent folder name is not an integer id");
    // OpenCOOD basedataset.__init__: RSU ids are negative; if the first (string-sorted) id is negative it is
    // moved to the end so that it is not the ego. Only the first one is moved, exactly as OpenCOOD does.
    if (*parse_int(cavs.front()) < 0) std::rotate(cavs.begin(), cavs.begin() + 1, cavs.end());
    if (opt_.max_cav > 0 && cavs.size() > static_cast<std::size_t>(opt_.max_cav)) cavs.resize(static_cast<std::size_t>(opt_.max_cav));
    sc.agent_dirs = cavs;
    // Timestamps: the ego's (first agent's) YAML files, skipping names containing "additional".
    for (const auto& entry : fs::directory_iterator(sdir / cavs.front(), ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".yaml") == 0 && name.find("additional") == std::string::npos)
        sc.timestamps.push_back(name.substr(0, name.size() - 5));
    }
    std::sort(sc.timestamps.begin(), sc.timestamps.end());
    for (std::size_t t = 0; t < sc.timestamps.size(); ++t) index_.emplace_back(scenarios_.size(), t);
    scenarios_.push_back(std::move(sc));
  }
  if (index_.empty()) throw std::runtime_error(root_.string() + ": no OPV2V frame (<scenario>/<agent id>/<timestamp>.yaml) found");
}

std::size_t Opv2vDataset::size() const { return index_.size(); }

FrameRef Opv2vDataset::ref(std::size_t i) const {
  const auto& [s, t] = index_.at(i);
  const auto& sc = scenarios_[s];
  FrameRef r;
  r.scenario = sc.name;
  r.timestamp = sc.timestamps[t];
  for (const auto& a : sc.agent_dirs) r.agents.push_back(static_cast<AgentId>(*parse_int(a)));
  return r;
}

Expected<CoopFrame> Opv2vDataset::load(std::size_t i) const {
  const auto& [s, t] = index_.at(i);
  const auto& sc = scenarios_[s];
  CoopFrame f;
  f.scenario = sc.name;
  f.timestamp = sc.timestamps[t];
  std::vector<AgentFrame> agents;
  for (const auto& a : sc.agent_dirs) {
    auto af = load_opv2v_agent(sc.dir / a, f.timestamp, opt_);
    if (!af) return af.error();
    agents.push_back(std::move(*af));
  }
  const AgentFrame& ego = agents.front();
  f.ego = ego.id;
  f.stamp_ns = ego.stamp_ns;
  // OpenCOOD intermediate/early/late fusion: a CAV whose lidar_pose is farther than COM_RANGE (XY) from the
  // ego's is skipped; the ground truth is built only from the kept agents.
  const Eigen::Vector3d ego_xyz = ego.T_world_lidar.translation();
  for (auto& a : agents) {
    const Eigen::Vector3d p = a.T_world_lidar.translation();
    const double dist = std::hypot(p.x() - ego_xyz.x(), p.y() - ego_xyz.y());
    if (opt_.apply_comm_range && dist > opt_.comm_range_m) continue;
    f.agents.push_back(std::move(a));
  }
  // Ground truth: union of the kept agents' objects, de-duplicated by id keeping the first occurrence in agent
  // order (OpenCOOD: object_id_stack.index(x) for x in set(object_id_stack)).
  std::unordered_set<std::int64_t> seen;
  for (const auto& a : f.agents)
    for (const auto& o : a.labels_world)
      if (seen.insert(o.id).second) {
        Object3D g = o;
        g.lidar_points = -1;  // visibility is per observing agent
        f.gt_world.push_back(g);
      }
  return f;
}

}  // namespace v2x::sensors
