#include "v2x/encoder/training.hpp"

#include <cmath>

namespace v2x::encoder {

void augment(RawSample& s, const AugmentConfig& cfg, Rng& rng) {
  if (!cfg.enabled) return;
  // Draw every random number up front, in a fixed order, so a seed gives the same augmentation everywhere.
  const bool flip = rng.bernoulli(cfg.flip_y_prob);
  const double rot = rng.uniform(-cfg.rotation_max_rad, cfg.rotation_max_rad);
  const double scale = rng.uniform(cfg.scale_min, cfg.scale_max);
  const double tx = rng.normal(0, cfg.translation_sigma_m), ty = rng.normal(0, cfg.translation_sigma_m),
               tz = rng.normal(0, cfg.translation_sigma_m);
  const double c = std::cos(rot), sn = std::sin(rot);
  PointCloud& p = s.cloud;
  for (std::size_t k = 0; k < p.size(); ++k) {
    double x = p.x[k], y = p.y[k];
    if (flip) y = -y;
    const double xr = c * x - sn * y, yr = sn * x + c * y;
    p.x[k] = static_cast<float>(xr * scale + tx);
    p.y[k] = static_cast<float>(yr * scale + ty);
    p.z[k] = static_cast<float>(p.z[k] * scale + tz);
  }
  for (Box3D& b : s.boxes) {
    double x = b.center.x(), y = b.center.y(), yaw = b.yaw_rad;
    if (flip) {
      y = -y;
      yaw = -yaw;
    }
    b.center.x() = (c * x - sn * y) * scale + tx;
    b.center.y() = (sn * x + c * y) * scale + ty;
    b.center.z() = b.center.z() * scale + tz;
    b.l_m *= scale;
    b.w_m *= scale;
    b.h_m *= scale;
    b.yaw_rad = wrap_angle(yaw + rot);
  }
}

void crop_to_range(PointCloud& cloud, const PillarConfig& cfg, double margin_m) {
  const float x0 = static_cast<float>(cfg.x_min_m - margin_m), x1 = static_cast<float>(cfg.x_max_m + margin_m);
  const float y0 = static_cast<float>(cfg.y_min_m - margin_m), y1 = static_cast<float>(cfg.y_max_m + margin_m);
  std::size_t j = 0;
  const bool has_i = cloud.intensity.size() == cloud.size();
  for (std::size_t k = 0; k < cloud.size(); ++k) {
    const float x = cloud.x[k], y = cloud.y[k];
    if (!(x >= x0 && x <= x1 && y >= y0 && y <= y1)) continue;
    cloud.x[j] = x;
    cloud.y[j] = y;
    cloud.z[j] = cloud.z[k];
    if (has_i) cloud.intensity[j] = cloud.intensity[k];
    ++j;
  }
  cloud.x.resize(j);
  cloud.y.resize(j);
  cloud.z.resize(j);
  if (has_i) cloud.intensity.resize(j);
  cloud.time_s.reset();
}

SampleEncoder::SampleEncoder(const DetectorConfig& cfg)
    : cfg_(cfg), pillarizer_(cfg.pillars), assigner_(cfg.anchor_config(), cfg.assign, cfg.coder) {}

EncodedSample SampleEncoder::encode(const RawSample& s) const {
  EncodedSample e;
  e.pillars = pillarizer_.run(s.cloud);
  assigner_.assign(s.boxes, e.targets);
  e.num_gt = static_cast<int>(s.boxes.size());
  return e;
}

}  // namespace v2x::encoder
