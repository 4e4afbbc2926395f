#pragma once
// Anchor boxes on the detection head's output map (OpenCOOD VoxelPostprocessor / PointPillars style).
//
// Layout contract shared with the head (encoder/) and the trainer:
//   anchor flat index  i = (iy * W + ix) * A + a        iy: row along +y (H), ix: column along +x (W)
//   a = size_index * num_yaws + yaw_index               A = sizes.size() * yaws_deg.size()
//   box arrays are [x, y, z, l, w, h, yaw] (metres, radians; l along the box's x axis, centre = geometric centre).
// So a head whose outputs are (A, H, W), (A*7, H, W) and (A*2, H, W) must be permuted to (H, W, A[, 7|2])
// (channel a*7+k is component k of anchor a) before it is handed to the code in this module.
#include <cstdint>
#include <vector>

#include "v2x/core/config.hpp"
#include "v2x/core/grid.hpp"

namespace v2x::detection {

// One anchor size (one class). Defaults: OpenCOOD's OPV2V PointPillars config
// (opencood/hypes_yaml/point_pillar_*.yaml, postprocess.anchor_args l/w/h; z = -1.0 is hard-coded in
// VoxelPostprocessor.generate_anchor_box).
struct AnchorSize {
  double l_m = 3.9;
  double w_m = 1.6;
  double h_m = 1.56;
  double z_m = -1.0;  // anchor centre height in the LiDAR frame
  template <class V>
  void visit(V& v) {
    v("l_m", l_m, Range{0.1, 30});
    v("w_m", w_m, Range{0.1, 10});
    v("h_m", h_m, Range{0.1, 10});
    v("z_m", z_m, Range{-10, 10});
  }
};

struct AnchorConfig {
  // Metric extent and cell size of the head's OUTPUT map (pillar size × backbone stride).
  // Defaults: OpenCOOD OPV2V, cav_lidar_range x ±140.8, y ±40, 0.4 m pillars, feature_stride 2 → 352 × 100.
  double x_min_m = -140.8, x_max_m = 140.8;
  double y_min_m = -40.0, y_max_m = 40.0;
  double cell_m = 0.8;
  std::vector<AnchorSize> sizes{AnchorSize{}};
  std::vector<double> yaws_deg{0.0, 90.0};  // OpenCOOD anchor_args.r

  template <class V>
  void visit(V& v) {
    v("x_min_m", x_min_m, Range{-1000, 1000});
    v("x_max_m", x_max_m, Range{-1000, 1000});
    v("y_min_m", y_min_m, Range{-1000, 1000});
    v("y_max_m", y_max_m, Range{-1000, 1000});
    v("cell_m", cell_m, Range{0.01, 10});
    v("sizes", sizes);
    v("yaws_deg", yaws_deg, Range{-360, 360});
  }
  // Cross-field rules (called by validate_config): non-empty extent, at least one size and yaw.
  void check(const std::string& file) const;

  BevGrid grid() const { return BevGrid{x_min_m, x_max_m, y_min_m, y_max_m, cell_m}; }
  int height() const { return grid().height(); }
  int width() const { return grid().width(); }
  int anchors_per_cell() const { return static_cast<int>(sizes.size() * yaws_deg.size()); }
  std::int64_t num_anchors() const { return grid().num_cells() * anchors_per_cell(); }
};

// Generated anchors. Anchor centres are the output cells' centres (identical to OpenCOOD's
// linspace(x_min + vw, x_max - vw, W/stride) when cell = 2·vw).
struct AnchorGrid {
  int height = 0, width = 0, anchors_per_cell = 0;
  std::vector<float> boxes;  // (H, W, A, 7) float32 row-major, [x, y, z, l, w, h, yaw]
  std::int64_t size() const { return static_cast<std::int64_t>(height) * width * anchors_per_cell; }
  const float* box(std::int64_t i) const { return boxes.data() + 7 * i; }
};

// Throws ConfigError when cfg is invalid (see AnchorConfig::check).
AnchorGrid generate_anchors(const AnchorConfig& cfg);

// (iy, ix, a) of a flat anchor index.
struct AnchorIndex {
  int iy = 0, ix = 0, a = 0;
};
inline AnchorIndex unflatten_anchor(std::int64_t i, int width, int anchors_per_cell) {
  const std::int64_t cell = i / anchors_per_cell;
  return {static_cast<int>(cell / width), static_cast<int>(cell % width), static_cast<int>(i % anchors_per_cell)};
}

}  // namespace v2x::detection
