#include "v2x/core/point_cloud.hpp"

#include <cmath>

namespace v2x {

void PointCloud::reserve(std::size_t n) {
  x.reserve(n); y.reserve(n); z.reserve(n); intensity.reserve(n);
  if (time_s) time_s->reserve(n);
}

void PointCloud::push_back(float px, float py, float pz, float pi) {
  x.push_back(px); y.push_back(py); z.push_back(pz); intensity.push_back(pi);
  if (time_s) time_s->push_back(0.0);
}

void PointCloud::clear() {
  x.clear(); y.clear(); z.clear(); intensity.clear();
  if (time_s) time_s->clear();
}

void PointCloud::transform(const Pose& T) {
  const Eigen::Matrix3f R = T.linear().cast<float>();
  const Eigen::Vector3f t = T.translation().cast<float>();
  for (std::size_t i = 0; i < size(); ++i) {
    const Eigen::Vector3f p = R * Eigen::Vector3f(x[i], y[i], z[i]) + t;
    x[i] = p.x(); y[i] = p.y(); z[i] = p.z();
  }
}

void PointCloud::append(const PointCloud& o) {
  const bool keep_time = time_s.has_value() && o.time_s.has_value();
  x.insert(x.end(), o.x.begin(), o.x.end());
  y.insert(y.end(), o.y.begin(), o.y.end());
  z.insert(z.end(), o.z.begin(), o.z.end());
  intensity.insert(intensity.end(), o.intensity.begin(), o.intensity.end());
  if (keep_time) time_s->insert(time_s->end(), o.time_s->begin(), o.time_s->end());
  else time_s.reset();
}

std::size_t PointCloud::remove_non_finite() {
  std::size_t w = 0;
  const std::size_t n = size();
  for (std::size_t i = 0; i < n; ++i) {
    if (!(std::isfinite(x[i]) && std::isfinite(y[i]) && std::isfinite(z[i]))) continue;
    x[w] = x[i]; y[w] = y[i]; z[w] = z[i]; intensity[w] = intensity[i];
    if (time_s) (*time_s)[w] = (*time_s)[i];
    ++w;
  }
  x.resize(w); y.resize(w); z.resize(w); intensity.resize(w);
  if (time_s) time_s->resize(w);
  return n - w;
}

}  // namespace v2x
