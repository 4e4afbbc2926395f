#pragma once
// Residual box coder for 7-dim boxes (OpenCOOD VoxelPostprocessor.generate_label / delta_to_boxes3d,
// = SECOND's ResidualCoder without the sin/cos yaw encoding), plus SECOND/OpenPCDet-style direction bins.
//
//   d_a = sqrt(l_a² + w_a²)
//   t = [(x-x_a)/d_a, (y-y_a)/d_a, (z-z_a)/h_a, log(l/l_a), log(w/w_a), log(h/h_a), wrap(yaw-yaw_a)]
//
// Box arrays are [x, y, z, l, w, h, yaw] (lwh order; OpenCOOD stores hwl, the formulas are the same).
// The yaw residual is wrapped into [-pi, pi) (OpenCOOD keeps the raw difference; both are equal modulo 2pi and
// the loss is expected to use sin(pred - target) like OpenCOOD's PointPillarLoss.add_sin_difference, which
// cannot tell yaw from yaw + pi: the direction classifier resolves that).
#include <cmath>

#include "v2x/core/config.hpp"

namespace v2x::detection {

struct BoxCoderConfig {
  // Direction classifier (SECOND / OpenPCDet, HEAL's dir_args): bins of width 2pi/num_dir_bins starting at
  // dir_offset_rad. With 2 bins the period is pi: the regressed yaw fixes the axis, the bin picks the heading.
  double dir_offset_rad = 0.78539816339744831;  // pi/4
  int num_dir_bins = 2;
  template <class V>
  void visit(V& v) {
    v("dir_offset_rad", dir_offset_rad, Range{-7, 7});
    v("num_dir_bins", num_dir_bins, Range{1, 8});
  }
};

// a: anchor (7), b: box (7) → out: regression target (7). out may not alias a or b.
void encode_box(const float* a, const float* b, float* out);
// a: anchor (7), t: deltas (7) → out: box (7); yaw = t_yaw + yaw_a, not wrapped, no direction applied.
void decode_box(const float* a, const float* t, float* out);

// val - floor(val / period + offset) * period  (OpenPCDet common_utils.limit_period): result in
// [-offset*period, (1-offset)*period).
inline double limit_period(double val, double offset, double period) {
  return val - std::floor(val / period + offset) * period;
}

// Direction bin of a (ground-truth) yaw: floor(limit_period(yaw - dir_offset, 0, 2pi) / (2pi/bins)),
// clamped to [0, bins-1].
int direction_target(double yaw_rad, const BoxCoderConfig& cfg);
// Applies a predicted direction bin to a decoded yaw (OpenPCDet / HEAL post-processing):
//   period = 2pi/bins; yaw' = limit_period(yaw - dir_offset, 0, period) + dir_offset + period * bin
// and wraps the result into (-pi, pi].
double apply_direction(double yaw_rad, int dir_bin, const BoxCoderConfig& cfg);

}  // namespace v2x::detection
