#include "v2x/sim/sensors.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

namespace v2x::sim {
namespace {
// Approximately standard-normal deviate from one 64-bit draw: the sum of four 16-bit uniforms (Irwin–Hall,
// n = 4) rescaled to unit variance; tails are cut at ±3.46σ. Several times cheaper than Box–Muller
// (no log/cos), which matters at one draw per LiDAR return, and just as deterministic.
inline float fast_normal(Rng& rng) {
  const std::uint64_t u = rng.next_u64();
  const float s = static_cast<float>((u & 0xFFFF) + ((u >> 16) & 0xFFFF) + ((u >> 32) & 0xFFFF) + (u >> 48)) *
                  (1.0f / 65536.0f);
  return (s - 2.0f) * 1.7320508f;
}
}  // namespace

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t, std::size_t)>& fn) {
  if (threads <= 1 || n < 1024) {
    fn(0, n);
    return;
  }
  const auto t = static_cast<std::size_t>(threads);
  std::vector<std::thread> pool;
  pool.reserve(t - 1);
  for (std::size_t k = 1; k < t; ++k) pool.emplace_back(fn, n * k / t, n * (k + 1) / t);
  fn(0, n / t);
  for (auto& th : pool) th.join();
}

void ground_surface(const World& world, float x, float y, Material& m, std::uint8_t rgb[3]) {
  const Ground g = world.ground().at(x, y);
  // Cell-hashed texture variation (±10) so large flat areas do not look synthetic in the camera.
  const auto cx = static_cast<std::uint32_t>(static_cast<std::int32_t>(std::floor(x * 2.0f)));
  const auto cy = static_cast<std::uint32_t>(static_cast<std::int32_t>(std::floor(y * 2.0f)));
  std::uint32_t hsh = cx * 0x9E3779B1u ^ (cy * 0x85EBCA77u);
  hsh ^= hsh >> 15;
  hsh *= 0x2C1B3C6Du;
  hsh ^= hsh >> 12;
  const int tex = static_cast<int>(hsh % 21u) - 10;
  int r, gg, b;
  switch (g) {
    case Ground::Asphalt: m = Material::Asphalt, r = 72, gg = 72, b = 75; break;
    case Ground::WhiteMark: m = Material::LaneMarking, r = 225, gg = 225, b = 220; break;
    case Ground::YellowMark: m = Material::LaneMarking, r = 215, gg = 175, b = 45; break;
    case Ground::Paving: m = Material::Concrete, r = 150, gg = 145, b = 138; break;
    case Ground::Gravel: m = Material::Concrete, r = 125, gg = 118, b = 105; break;
    default: m = Material::Grass, r = 78, gg = 115, b = 55; break;
  }
  rgb[0] = static_cast<std::uint8_t>(std::clamp(r + tex, 0, 255));
  rgb[1] = static_cast<std::uint8_t>(std::clamp(gg + tex, 0, 255));
  rgb[2] = static_cast<std::uint8_t>(std::clamp(b + tex, 0, 255));
}

SceneHit cast_ray(const World& world, const Ray& ray, float t_min, float t_max, std::int32_t self_id) {
  SceneHit out;
  float best = t_max;
  bool ground = false;
  if (ray.dir.z() < -1e-6f) {
    const float tg = -ray.origin.z() / ray.dir.z();
    if (tg > t_min && tg < best) {
      best = tg;
      ground = true;
    }
  }
  const Bvh& bvh = world.scene_bvh();
  const Hit h = bvh.intersect(ray, t_min, best, self_id);
  if (h.valid()) {
    const BoxPrim& prim = bvh.prims()[h.prim];
    out.t = h.t;
    out.normal = h.normal;
    out.material = prim.material;
    out.r = prim.r, out.g = prim.g, out.b = prim.b;
    out.owner = prim.owner;
  } else if (ground) {
    out.t = best;
    out.ground = true;
    out.normal = Eigen::Vector3f(0, 0, 1);
    const Eigen::Vector3f p = ray.origin + best * ray.dir;
    std::uint8_t rgb[3];
    ground_surface(world, p.x(), p.y(), out.material, rgb);
    out.r = rgb[0], out.g = rgb[1], out.b = rgb[2];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// LiDAR

LidarSensor::LidarSensor(const LidarConfig& cfg) : cfg_(cfg) {
  const auto angles = lidar_vertical_angles_deg(cfg);
  channels_ = static_cast<int>(angles.size());
  const int na = cfg.azimuth_steps;
  dirs_.reserve(static_cast<std::size_t>(channels_) * na);
  for (double el_deg : angles) {
    const double el = deg_to_rad(el_deg);
    for (int k = 0; k < na; ++k) {
      // Azimuth sweeps counter-clockwise from straight ahead.
      const double az = 2.0 * 3.14159265358979323846 * k / na;
      dirs_.emplace_back(static_cast<float>(std::cos(el) * std::cos(az)), static_cast<float>(std::cos(el) * std::sin(az)),
                         static_cast<float>(std::sin(el)));
    }
  }
}

LidarScan LidarSensor::scan(const World& world, const Pose& T_world_lidar, std::int32_t self_id, std::uint64_t noise_seed,
                            int threads) const {
  const std::size_t n = dirs_.size();
  // Per-ray slots; compacted in ray order afterwards, so the result is independent of `threads`.
  std::vector<float> px(n), py(n), pz(n), pi(n);
  std::vector<std::int32_t> own(n);
  std::vector<std::uint8_t> keep(n, 0);
  const Eigen::Matrix3f R = T_world_lidar.linear().cast<float>();
  const Eigen::Vector3f origin = T_world_lidar.translation().cast<float>();
  const float range = static_cast<float>(cfg_.range_m), min_range = static_cast<float>(cfg_.min_range_m);
  const Rng base(noise_seed);
  parallel_for(n, threads, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      Ray ray;
      ray.origin = origin;
      ray.dir = R * dirs_[i];
      Rng rng = base.fork(i);
      float t0 = min_range;
      SceneHit h;
      // Foliage is porous: a share of the beams pass through a crown box.
      for (int bounce = 0; bounce < 3; ++bounce) {
        h = cast_ray(world, ray, t0, range, self_id);
        if (!h.valid() || h.material != Material::Foliage || !rng.bernoulli(0.45)) break;
        t0 = h.t + 0.05f;
      }
      if (!h.valid()) continue;
      const float cos_inc = std::abs(ray.dir.dot(h.normal));
      float intensity = material_reflectivity(h.material) * (0.25f + 0.75f * cos_inc);
      intensity += static_cast<float>(cfg_.intensity_noise) * fast_normal(rng);
      intensity = std::clamp(intensity, 0.0f, 1.0f);
      // Dropout: random loss plus weak returns (dark or glancing surfaces, glass) that fall below the threshold.
      double p_drop = cfg_.dropout;
      if (intensity < 0.05f) p_drop += 0.6 * (1.0 - intensity / 0.05f);
      if (rng.uniform() < p_drop) continue;
      float t = h.t + static_cast<float>(cfg_.range_noise_m) * fast_normal(rng);
      if (h.material == Material::Foliage) t += static_cast<float>(rng.uniform(0.0, 0.4));
      if (t < min_range || t > range) continue;
      px[i] = dirs_[i].x() * t;
      py[i] = dirs_[i].y() * t;
      pz[i] = dirs_[i].z() * t;
      pi[i] = intensity;
      own[i] = h.owner;
      keep[i] = 1;
    }
  });
  LidarScan out;
  out.rays = n;
  std::size_t m = 0;
  for (auto k : keep) m += k;
  out.cloud.reserve(m);
  out.owner.reserve(m);
  for (std::size_t i = 0; i < n; ++i)
    if (keep[i]) {
      out.cloud.push_back(px[i], py[i], pz[i], pi[i]);
      out.owner.push_back(own[i]);
    }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Cameras

CameraCalib surround_camera_calib(const CameraConfig& cfg, int k) {
  CameraCalib c;
  c.width = cfg.width;
  c.height = cfg.height;
  c.fx = c.fy = 0.5 * cfg.width / std::tan(0.5 * deg_to_rad(cfg.fov_deg));
  c.cx = 0.5 * cfg.width;
  c.cy = 0.5 * cfg.height;
  static constexpr double kYawDeg[4] = {0.0, -100.0, 100.0, 180.0};
  static constexpr double kPos[4][3] = {{0.5, 0.0, -0.3}, {0.0, -0.3, -0.3}, {0.0, 0.3, -0.3}, {-0.5, 0.0, -0.3}};
  const double yaw = deg_to_rad(kYawDeg[k]);
  const Eigen::Vector3d f(std::cos(yaw), std::sin(yaw), 0), r(std::sin(yaw), -std::cos(yaw), 0), d(0, 0, -1);
  Eigen::Matrix3d R;
  R.col(0) = r;
  R.col(1) = d;
  R.col(2) = f;
  c.T_lidar_camera = Pose::Identity();
  c.T_lidar_camera.linear() = R;
  c.T_lidar_camera.translation() = Eigen::Vector3d(kPos[k][0], kPos[k][1], kPos[k][2]);
  return c;
}

void render_camera(const World& world, const CameraCalib& calib, const Pose& T_world_camera, bool shadows,
                   std::int32_t self_id, int threads, Image& rgb, Image* depth) {
  const int W = calib.width, H = calib.height;
  rgb.width = W, rgb.height = H, rgb.channels = 3;
  rgb.rgb.assign(static_cast<std::size_t>(W) * H * 3, 0);
  rgb.depth_m.clear();
  if (depth) {
    depth->width = W, depth->height = H, depth->channels = 1;
    depth->depth_m.assign(static_cast<std::size_t>(W) * H, 0.f);
    depth->rgb.clear();
  }
  const Eigen::Matrix3f R = T_world_camera.linear().cast<float>();
  const Eigen::Vector3f origin = T_world_camera.translation().cast<float>();
  const Eigen::Vector3f sun = Eigen::Vector3f(0.45f, 0.3f, 0.84f).normalized();
  const Eigen::Vector3f sky_hi(110, 150, 205), sky_lo(200, 215, 230);
  parallel_for(static_cast<std::size_t>(H), threads, [&](std::size_t y0, std::size_t y1) {
    for (std::size_t y = y0; y < y1; ++y)
      for (int x = 0; x < W; ++x) {
        const Eigen::Vector3f dc(static_cast<float>((x + 0.5 - calib.cx) / calib.fx),
                                 static_cast<float>((static_cast<double>(y) + 0.5 - calib.cy) / calib.fy), 1.f);
        Ray ray;
        ray.origin = origin;
        ray.dir = (R * dc).normalized();
        const SceneHit h = cast_ray(world, ray, 0.05f, 1500.f, self_id);
        Eigen::Vector3f col;
        const float el = std::clamp(ray.dir.z(), 0.f, 1.f);
        const Eigen::Vector3f sky = sky_lo + (sky_hi - sky_lo) * std::sqrt(el);
        if (!h.valid()) {
          col = sky;
        } else {
          float lambert = std::max(0.f, h.normal.dot(sun));
          if (shadows && lambert > 0) {
            Ray sr;
            sr.origin = ray.origin + ray.dir * h.t + h.normal * 0.02f;
            sr.dir = sun;
            if (world.scene_bvh().occluded(sr, 0.01f, 300.f, self_id))
              lambert = 0;
          }
          const float shade = 0.42f + 0.58f * lambert;
          col = Eigen::Vector3f(h.r, h.g, h.b) * shade;
          const float fog = 1.f - std::exp(-h.t / 700.f);
          col = col * (1 - fog) + sky * fog;
          if (depth) depth->depth_m[y * W + x] = h.t * dc.z() / dc.norm();
        }
        for (int c = 0; c < 3; ++c)
          rgb.rgb[(y * W + x) * 3 + c] = static_cast<std::uint8_t>(std::clamp(col[c], 0.f, 255.f));
      }
  });
}

}  // namespace v2x::sim
