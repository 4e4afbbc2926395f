#include "v2x/detection/box_coder.hpp"

#include <algorithm>
#include <numbers>

#include "v2x/core/pose.hpp"

namespace v2x::detection {

namespace {
constexpr double kTwoPi = 2.0 * std::numbers::pi;
}

void encode_box(const float* a, const float* b, float* out) {
  const double d_a = std::sqrt(double(a[3]) * a[3] + double(a[4]) * a[4]);
  out[0] = static_cast<float>((double(b[0]) - a[0]) / d_a);
  out[1] = static_cast<float>((double(b[1]) - a[1]) / d_a);
  out[2] = static_cast<float>((double(b[2]) - a[2]) / a[5]);
  out[3] = static_cast<float>(std::log(double(b[3]) / a[3]));
  out[4] = static_cast<float>(std::log(double(b[4]) / a[4]));
  out[5] = static_cast<float>(std::log(double(b[5]) / a[5]));
  // [-pi, pi): limit_period with offset 0.5.
  out[6] = static_cast<float>(limit_period(double(b[6]) - a[6], 0.5, kTwoPi));
}

void decode_box(const float* a, const float* t, float* out) {
  const double d_a = std::sqrt(double(a[3]) * a[3] + double(a[4]) * a[4]);
  out[0] = static_cast<float>(t[0] * d_a + a[0]);
  out[1] = static_cast<float>(t[1] * d_a + a[1]);
  out[2] = static_cast<float>(double(t[2]) * a[5] + a[2]);
  out[3] = static_cast<float>(std::exp(double(t[3])) * a[3]);
  out[4] = static_cast<float>(std::exp(double(t[4])) * a[4]);
  out[5] = static_cast<float>(std::exp(double(t[5])) * a[5]);
  out[6] = static_cast<float>(double(t[6]) + a[6]);
}

int direction_target(double yaw_rad, const BoxCoderConfig& cfg) {
  const int bins = std::max(1, cfg.num_dir_bins);
  const double offset_rot = limit_period(yaw_rad - cfg.dir_offset_rad, 0.0, kTwoPi);
  const int bin = static_cast<int>(std::floor(offset_rot / (kTwoPi / bins)));
  return std::clamp(bin, 0, bins - 1);
}

double apply_direction(double yaw_rad, int dir_bin, const BoxCoderConfig& cfg) {
  const int bins = std::max(1, cfg.num_dir_bins);
  const double period = kTwoPi / bins;
  const double r = limit_period(yaw_rad - cfg.dir_offset_rad, 0.0, period);
  return wrap_angle(r + cfg.dir_offset_rad + period * std::clamp(dir_bin, 0, bins - 1));
}

}  // namespace v2x::detection
