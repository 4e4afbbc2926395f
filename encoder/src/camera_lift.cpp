#include "v2x/encoder/camera_lift.hpp"

#include <algorithm>
#include <cmath>

namespace v2x::encoder {

std::size_t LiftGrid::valid_count() const {
  return static_cast<std::size_t>(std::count_if(valid.begin(), valid.end(), [](float v) { return v > 0.5f; }));
}

LiftGrid make_lift_grid(const CameraCalib& calib, const BevGrid& grid, const std::vector<double>& heights_m,
                        double min_depth_m, double max_range_m) {
  LiftGrid g;
  g.heights = static_cast<int>(heights_m.size());
  g.height = grid.height();
  g.width = grid.width();
  const std::size_t n = static_cast<std::size_t>(g.heights) * g.height * g.width;
  g.xy.assign(2 * n, -2.f);  // outside [-1, 1]: grid_sample returns 0 there even if valid were ignored
  g.valid.assign(n, 0.f);
  const Pose T_camera_lidar = calib.T_lidar_camera.inverse();
  const Eigen::Vector3d cam_pos = calib.T_lidar_camera.translation();
  const double W = calib.width, H = calib.height;
  std::size_t k = 0;
  for (int h = 0; h < g.heights; ++h)
    for (int iy = 0; iy < g.height; ++iy)
      for (int ix = 0; ix < g.width; ++ix, ++k) {
        const Eigen::Vector3d p_l(grid.cell_center_x(ix), grid.cell_center_y(iy), heights_m[h]);
        if (std::hypot(p_l.x() - cam_pos.x(), p_l.y() - cam_pos.y()) > max_range_m) continue;
        const Eigen::Vector3d p = T_camera_lidar * p_l;
        if (!(p.z() > min_depth_m)) continue;
        // Continuous pixel coordinates: pixel i covers [i, i + 1) (the simulator casts pixel centres at i + 0.5).
        const double u = calib.fx * p.x() / p.z() + calib.cx, v = calib.fy * p.y() / p.z() + calib.cy;
        if (u < 0 || u > W || v < 0 || v > H) continue;
        g.xy[2 * k] = static_cast<float>(2.0 * u / W - 1.0);
        g.xy[2 * k + 1] = static_cast<float>(2.0 * v / H - 1.0);
        g.valid[k] = 1.f;
      }
  return g;
}

std::vector<double> lift_heights(const CameraBranchConfig& cfg) {
  if (cfg.lift == CameraLift::FlatGround || cfg.sample_heights_m.empty())
    return {cfg.sample_heights_m.empty() ? -1.9 : cfg.sample_heights_m.front()};
  return cfg.sample_heights_m;
}

const char* camera_drop_name(CameraDrop d) {
  switch (d) {
    case CameraDrop::None: return "none";
    case CameraDrop::MissingImage: return "missing image";
    case CameraDrop::CorruptImage: return "corrupt image";
    case CameraDrop::MissingCalibration: return "missing calibration";
  }
  return "?";
}

CameraDrop check_camera(const CameraFrame& cam) {
  const Image& im = cam.image;
  if (im.empty() && im.rgb.empty()) return CameraDrop::MissingImage;
  if (im.width <= 0 || im.height <= 0 || im.channels != 3 ||
      im.rgb.size() != static_cast<std::size_t>(im.width) * im.height * 3)
    return CameraDrop::CorruptImage;
  const CameraCalib& c = cam.calib;
  const bool finite = std::isfinite(c.fx) && std::isfinite(c.fy) && std::isfinite(c.cx) && std::isfinite(c.cy) &&
                      c.T_lidar_camera.matrix().allFinite();
  if (!finite || c.fx <= 0 || c.fy <= 0 || c.width <= 0 || c.height <= 0) return CameraDrop::MissingCalibration;
  const double a_cal = static_cast<double>(c.width) / c.height, a_img = static_cast<double>(im.width) / im.height;
  if (std::abs(a_cal / a_img - 1.0) > 0.01) return CameraDrop::MissingCalibration;  // calibration of another camera
  return CameraDrop::None;
}

void CameraInputStats::add(const CameraInputStats& o) {
  used += o.used;
  missing_image += o.missing_image;
  corrupt_image += o.corrupt_image;
  missing_calibration += o.missing_calibration;
  over_capacity += o.over_capacity;
}

void resize_rgb_to_planar(const Image& img, int out_w, int out_h, float* out) {
  const int W = img.width, H = img.height;
  const std::size_t plane = static_cast<std::size_t>(out_w) * out_h;
  const std::uint8_t* src = img.rgb.data();
  if (W % out_w == 0 && H % out_h == 0) {  // integer box filter
    const int fx = W / out_w, fy = H / out_h;
    const float norm = 1.f / (255.f * fx * fy);
    for (int y = 0; y < out_h; ++y)
      for (int x = 0; x < out_w; ++x) {
        int s[3] = {0, 0, 0};
        for (int dy = 0; dy < fy; ++dy) {
          const std::uint8_t* row = src + (static_cast<std::size_t>(y * fy + dy) * W + x * fx) * 3;
          for (int dx = 0; dx < fx; ++dx)
            for (int c = 0; c < 3; ++c) s[c] += row[dx * 3 + c];
        }
        for (int c = 0; c < 3; ++c) out[c * plane + static_cast<std::size_t>(y) * out_w + x] = s[c] * norm;
      }
    return;
  }
  const double sx = static_cast<double>(W) / out_w, sy = static_cast<double>(H) / out_h;
  for (int y = 0; y < out_h; ++y) {
    const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, H - 1.0);
    const int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, H - 1);
    const double wy = fy - y0;
    for (int x = 0; x < out_w; ++x) {
      const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, W - 1.0);
      const int x0 = static_cast<int>(fx), x1 = std::min(x0 + 1, W - 1);
      const double wx = fx - x0;
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int yy, int xx) { return static_cast<double>(src[(static_cast<std::size_t>(yy) * W + xx) * 3 + c]); };
        const double v = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        out[c * plane + static_cast<std::size_t>(y) * out_w + x] = static_cast<float>(v / 255.0);
      }
    }
  }
}

}  // namespace v2x::encoder
