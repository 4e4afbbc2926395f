#include "v2x/live/geometric_perception.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace v2x::live {

GeometricPerception::GeometricPerception(apps::GeometricPerceptionConfig cfg) : cfg_(cfg) {
  grid_.x_min_m = grid_.y_min_m = -cfg_.range_m;
  grid_.x_max_m = grid_.y_max_m = cfg_.range_m;
  grid_.cell_m = cfg_.cell_m;
}

apps::LocalPerception GeometricPerception::perceive(const AgentFrame& frame, AgentId agent, SensorSet sensors) {
  const TimestampNs stamp_ns = frame.stamp_ns;
  if (!uses_lidar(sensors)) return apps::empty_perception(grid_, channels(), agent, stamp_ns);
  const PointCloud& cloud = frame.cloud;
  const auto t0 = std::chrono::steady_clock::now();
  apps::LocalPerception out;
  out.modality = kModalityLidar;
  const int W = grid_.width(), H = grid_.height();
  FeatureMap& fm = out.features;
  fm = FeatureMap(2, H, W);
  fm.confidence.assign(static_cast<std::size_t>(H) * W, 0.f);
  fm.grid = grid_;
  fm.agent = agent;
  fm.stamp_ns = stamp_ns;
  const double z_lo = cfg_.ground_z_m + cfg_.min_height_m, z_hi = cfg_.ground_z_m + cfg_.max_height_m;
  cv::Mat occ = cv::Mat::zeros(H, W, CV_8U);
  std::vector<int> count(static_cast<std::size_t>(H) * W, 0);
  std::vector<float> zmax(count.size(), -1e9f), zmin(count.size(), 1e9f);
  for (std::size_t i = 0; i < cloud.size(); ++i) {
    const float x = cloud.x[i], y = cloud.y[i], z = cloud.z[i];
    if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(z) || z < z_lo || z > z_hi) continue;
    const auto c = grid_.cell_of(x, y);
    if (!c) continue;
    const std::size_t k = static_cast<std::size_t>(c->second) * W + c->first;
    ++count[k];
    zmax[k] = std::max(zmax[k], z);
    zmin[k] = std::min(zmin[k], z);
    occ.at<std::uint8_t>(c->second, c->first) = 255;
  }
  for (std::size_t k = 0; k < count.size(); ++k) {
    if (!count[k]) continue;
    fm.data[k] = std::log1p(static_cast<float>(count[k]));
    fm.data[count.size() + k] = zmax[k] - static_cast<float>(cfg_.ground_z_m);
    fm.confidence[k] = std::min(1.f, count[k] / 10.f);
  }
  // Close 1-cell gaps (a car's side seen at grazing angles), then label.
  cv::Mat closed;
  cv::morphologyEx(occ, closed, cv::MORPH_CLOSE, cv::getStructuringElement(cv::MORPH_RECT, {3, 3}));
  cv::Mat labels;
  const int n = cv::connectedComponents(closed, labels, 8, CV_32S);
  std::vector<std::vector<cv::Point2f>> cells(static_cast<std::size_t>(std::max(0, n)));
  std::vector<int> pts(cells.size(), 0);
  std::vector<float> top(cells.size(), -1e9f), bottom(cells.size(), 1e9f);
  for (int r = 0; r < H; ++r)
    for (int c = 0; c < W; ++c) {
      const int l = labels.at<int>(r, c);
      if (l <= 0) continue;
      const std::size_t k = static_cast<std::size_t>(r) * W + c;
      // Cell corners in metres so the rectangle covers whole cells.
      const float x0 = static_cast<float>(grid_.x_min_m + c * cfg_.cell_m), y0 = static_cast<float>(grid_.y_min_m + r * cfg_.cell_m);
      const float d = static_cast<float>(cfg_.cell_m);
      auto& v = cells[static_cast<std::size_t>(l)];
      v.insert(v.end(), {{x0, y0}, {x0 + d, y0}, {x0, y0 + d}, {x0 + d, y0 + d}});
      if (count[k]) {
        pts[static_cast<std::size_t>(l)] += count[k];
        top[static_cast<std::size_t>(l)] = std::max(top[static_cast<std::size_t>(l)], zmax[k]);
        bottom[static_cast<std::size_t>(l)] = std::min(bottom[static_cast<std::size_t>(l)], zmin[k]);
      }
    }
  for (std::size_t l = 1; l < cells.size(); ++l) {
    if (pts[l] < cfg_.min_points) continue;
    const cv::RotatedRect rr = cv::minAreaRect(cells[l]);
    double len = rr.size.width, wid = rr.size.height, yaw = rr.angle * M_PI / 180.0;
    if (len < wid) {
      std::swap(len, wid);
      yaw += M_PI / 2;
    }
    if (len < cfg_.min_length_m || len > cfg_.max_length_m || wid > cfg_.max_width_m) continue;
    yaw = std::remainder(yaw, M_PI);  // a rectangle has no heading: keep yaw in [-π/2, π/2]
    Detection d;
    const double ground = cfg_.ground_z_m;
    const double h = std::max(1.0, static_cast<double>(top[l]) - ground);
    d.box.center = Eigen::Vector3d(rr.center.x, rr.center.y, ground + 0.5 * h);
    d.box.l_m = std::max(len, 3.5);  // partial views: a car is at least this long
    d.box.w_m = std::clamp(wid, 1.6, cfg_.max_width_m);
    d.box.h_m = h;
    d.box.yaw_rad = yaw;
    d.score = static_cast<float>(1.0 - std::exp(-pts[l] / 30.0));
    d.cls = ObjectClass::Car;
    out.detections.detections.push_back(d);
  }
  std::sort(out.detections.detections.begin(), out.detections.detections.end(),
            [](const Detection& a, const Detection& b) { return a.score > b.score; });
  out.detections.agent = agent;
  out.detections.stamp_ns = stamp_ns;
  out.encode_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace v2x::live
