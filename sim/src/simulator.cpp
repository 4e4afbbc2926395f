#include "v2x/sim/simulator.hpp"

#include <chrono>
#include <cmath>
#include <array>
#include <cstdio>

namespace v2x::sim {
namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

std::vector<int> count_points_in_boxes(const std::vector<Box3D>& boxes, const std::vector<Eigen::Vector3d>& pts) {
  std::vector<int> counts(boxes.size(), 0);
  if (boxes.empty() || pts.empty()) return counts;
  // BEV bucket grid over the boxes' extent, 8 m cells; each box's rotation is precomputed once. The test is
  // exactly Box3D::contains (boundary inclusive).
  constexpr double kCell = 8.0;
  struct Prep {
    double cx, cy, cz, c, s, hl, hw, hh;
  };
  std::vector<Prep> prep(boxes.size());
  double x0 = 1e300, y0 = 1e300, x1 = -1e300, y1 = -1e300;
  std::vector<std::array<double, 4>> aabb(boxes.size());
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    const double c = std::cos(b.yaw_rad), s = std::sin(b.yaw_rad);
    prep[i] = {b.center.x(), b.center.y(), b.center.z(), c, s, 0.5 * b.l_m, 0.5 * b.w_m, 0.5 * b.h_m};
    const double ex = 0.5 * (std::abs(c) * b.l_m + std::abs(s) * b.w_m), ey = 0.5 * (std::abs(s) * b.l_m + std::abs(c) * b.w_m);
    aabb[i] = {b.center.x() - ex, b.center.y() - ey, b.center.x() + ex, b.center.y() + ey};
    x0 = std::min(x0, aabb[i][0]), y0 = std::min(y0, aabb[i][1]);
    x1 = std::max(x1, aabb[i][2]), y1 = std::max(y1, aabb[i][3]);
  }
  const int nx = static_cast<int>((x1 - x0) / kCell) + 1, ny = static_cast<int>((y1 - y0) / kCell) + 1;
  std::vector<std::vector<int>> cells(static_cast<std::size_t>(nx) * ny);
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const int cx0 = static_cast<int>((aabb[i][0] - x0) / kCell), cx1 = static_cast<int>((aabb[i][2] - x0) / kCell);
    const int cy0 = static_cast<int>((aabb[i][1] - y0) / kCell), cy1 = static_cast<int>((aabb[i][3] - y0) / kCell);
    for (int cy = cy0; cy <= cy1; ++cy)
      for (int cx = cx0; cx <= cx1; ++cx) cells[static_cast<std::size_t>(cy) * nx + cx].push_back(static_cast<int>(i));
  }
  for (const auto& p : pts) {
    if (p.x() < x0 || p.y() < y0 || p.x() > x1 || p.y() > y1) continue;
    const int cx = std::min(nx - 1, static_cast<int>((p.x() - x0) / kCell));
    const int cy = std::min(ny - 1, static_cast<int>((p.y() - y0) / kCell));
    for (int i : cells[static_cast<std::size_t>(cy) * nx + cx]) {
      const Prep& b = prep[i];
      const double dx = p.x() - b.cx, dy = p.y() - b.cy, dz = p.z() - b.cz;
      const double lx = b.c * dx + b.s * dy, ly = -b.s * dx + b.c * dy;
      if (std::abs(lx) <= b.hl && std::abs(ly) <= b.hw && std::abs(dz) <= b.hh) ++counts[i];
    }
  }
  return counts;
}

Simulator::Simulator(const SimConfig& cfg, std::uint64_t seed)
    : cfg_(cfg),
      seed_(seed),
      vehicle_lidar_((validate_config(cfg_), cfg_.agents.vehicle_lidar)),
      rsu_lidar_(cfg_.agents.rsu_lidar) {
  world_ = std::make_unique<World>(cfg_, seed);
}

std::string Simulator::scenario_name() const { return cfg_.name + "_seed" + std::to_string(seed_); }

std::size_t Simulator::agent_count() const { return world_->connected().size() + world_->rsus().size(); }

Pose Simulator::agent_lidar_pose(std::size_t k) const {
  const auto& cav = world_->connected();
  if (k < cav.size()) {
    const Actor& a = world_->actors()[cav[k]];
    return planar_pose(a.pos.x(), a.pos.y(), a.pos.z() + cfg_.agents.vehicle_lidar.mount_height_m, a.yaw_rad);
  }
  const auto& r = world_->rsus().at(k - cav.size());
  return planar_pose(r.sensor_pos.x(), r.sensor_pos.y(), r.sensor_pos.z(), r.yaw_rad);
}

CoopFrame Simulator::step() {
  stats_ = {};
  auto t0 = std::chrono::steady_clock::now();
  world_->step(1e-9 * static_cast<double>(kLidarPeriodNs));
  stats_.world_ms = ms_since(t0);

  CoopFrame f;
  f.scenario = scenario_name();
  char ts[16];
  std::snprintf(ts, sizeof(ts), "%06d", 2 * frame_);
  f.timestamp = ts;
  f.stamp_ns = static_cast<TimestampNs>(frame_) * kLidarPeriodNs;
  const auto& actors = world_->actors();
  const auto& cav = world_->connected();
  f.ego = actors[cav.front()].id;

  std::vector<Box3D> boxes(actors.size());
  for (std::size_t i = 0; i < actors.size(); ++i) boxes[i] = actors[i].box();
  std::vector<int> total(actors.size(), 0);
  const Rng frame_rng = Rng(seed_).fork(0xF00D0000ull + static_cast<std::uint64_t>(frame_));

  for (std::size_t k = 0; k < agent_count(); ++k) {
    const bool rsu = k >= cav.size();
    AgentFrame af;
    af.id = rsu ? world_->rsus()[k - cav.size()].id : actors[cav[k]].id;
    af.is_rsu = rsu;
    af.stamp_ns = f.stamp_ns;
    af.T_world_lidar = agent_lidar_pose(k);
    af.speed_mps = rsu ? 0.0 : actors[cav[k]].v_mps;
    Rng arng = frame_rng.fork(static_cast<std::uint64_t>(k) + 1);
    // GPS / localisation noise.
    {
      const auto& nz = cfg_.noise;
      const double ps = rsu ? nz.rsu_position_sigma_m : nz.position_sigma_m;
      const double dx = arng.normal(0, ps), dy = arng.normal(0, ps);
      const double dz = arng.normal(0, rsu ? 0.0 : nz.height_sigma_m);
      const double dyaw = arng.normal(0, rsu ? 0.0 : deg_to_rad(nz.heading_sigma_deg));
      Pose noisy = af.T_world_lidar;
      noisy.linear() = Eigen::AngleAxisd(dyaw, Eigen::Vector3d::UnitZ()).toRotationMatrix() * af.T_world_lidar.linear();
      noisy.translation() += Eigen::Vector3d(dx, dy, dz);
      af.T_world_lidar_noisy = noisy;
    }
    auto tl = std::chrono::steady_clock::now();
    const LidarSensor& lidar = rsu ? rsu_lidar_ : vehicle_lidar_;
    const std::int32_t self = rsu ? Bvh::kNoOwner : af.id;
    // A camera-only agent scans nothing (its own Rng stream only: the other agents' output is unchanged).
    LidarScan scan = cfg_.agents.scans_lidar(k) ? lidar.scan(*world_, af.T_world_lidar, self, arng.next_u64(), threads_)
                                                : LidarScan{};
    stats_.lidar_ms += ms_since(tl);
    stats_.rays += scan.rays;
    stats_.points += scan.cloud.size();

    auto tb = std::chrono::steady_clock::now();
    std::vector<Eigen::Vector3d> pw(scan.cloud.size());
    for (std::size_t i = 0; i < pw.size(); ++i)
      pw[i] = af.T_world_lidar * Eigen::Vector3d(scan.cloud.x[i], scan.cloud.y[i], scan.cloud.z[i]);
    const std::vector<int> counts = count_points_in_boxes(boxes, pw);
    const Eigen::Vector2d me = af.T_world_lidar.translation().head<2>();
    for (std::size_t i = 0; i < actors.size(); ++i) {
      total[i] += counts[i];
      if (actors[i].id == af.id) continue;
      if ((actors[i].pos.head<2>() - me).norm() > cfg_.agents.label_range_m) continue;
      Object3D o;
      o.box = boxes[i];
      o.cls = actors[i].cls;
      o.id = actors[i].id;
      o.lidar_points = counts[i];
      af.labels_world.push_back(o);
    }
    stats_.labels_ms += ms_since(tb);
    af.cloud = std::move(scan.cloud);

    if (cameras_on_ && cfg_.agents.renders_cameras(k)) {
      auto tc = std::chrono::steady_clock::now();
      const auto& cc = cfg_.agents.cameras;
      for (int c = 0; c < cc.count; ++c) {
        CameraFrame cf;
        cf.name = "camera" + std::to_string(c);
        cf.calib = surround_camera_calib(cc, c);
        const Pose T_world_camera = af.T_world_lidar * cf.calib.T_lidar_camera;
        cf.calib.T_world_camera = T_world_camera;
        Image depth;
        render_camera(*world_, cf.calib, T_world_camera, cc.shadows, self, threads_, cf.image, cc.depth ? &depth : nullptr);
        if (cc.depth) cf.depth = std::move(depth);
        af.cameras.push_back(std::move(cf));
      }
      stats_.camera_ms += ms_since(tc);
    }
    f.agents.push_back(std::move(af));
  }
  for (std::size_t i = 0; i < actors.size(); ++i) {
    Object3D o;
    o.box = boxes[i];
    o.cls = actors[i].cls;
    o.id = actors[i].id;
    o.lidar_points = total[i];
    f.gt_world.push_back(o);
  }
  ++frame_;
  return f;
}

}  // namespace v2x::sim
