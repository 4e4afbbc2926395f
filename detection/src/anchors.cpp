#include "v2x/detection/anchors.hpp"

#include <cmath>

#include "v2x/core/pose.hpp"

namespace v2x::detection {

void AnchorConfig::check(const std::string& file) const {
  if (!(x_max_m > x_min_m)) throw ConfigError(file, "x_max_m", "must be greater than x_min_m");
  if (!(y_max_m > y_min_m)) throw ConfigError(file, "y_max_m", "must be greater than y_min_m");
  if (width() < 1 || height() < 1) throw ConfigError(file, "cell_m", "grid has no cells: " + grid().describe());
  if (sizes.empty()) throw ConfigError(file, "sizes", "at least one anchor size is required");
  if (yaws_deg.empty()) throw ConfigError(file, "yaws_deg", "at least one anchor yaw is required");
}

AnchorGrid generate_anchors(const AnchorConfig& cfg_in) {
  AnchorConfig cfg = cfg_in;
  validate_config(cfg);
  const BevGrid g = cfg.grid();
  AnchorGrid out;
  out.height = g.height();
  out.width = g.width();
  out.anchors_per_cell = cfg.anchors_per_cell();
  out.boxes.resize(static_cast<std::size_t>(out.size()) * 7);
  float* p = out.boxes.data();
  for (int iy = 0; iy < out.height; ++iy) {
    const float y = static_cast<float>(g.cell_center_y(iy));
    for (int ix = 0; ix < out.width; ++ix) {
      const float x = static_cast<float>(g.cell_center_x(ix));
      for (const AnchorSize& s : cfg.sizes) {
        for (double yaw_deg : cfg.yaws_deg) {
          p[0] = x;
          p[1] = y;
          p[2] = static_cast<float>(s.z_m);
          p[3] = static_cast<float>(s.l_m);
          p[4] = static_cast<float>(s.w_m);
          p[5] = static_cast<float>(s.h_m);
          p[6] = static_cast<float>(deg_to_rad(yaw_deg));
          p += 7;
        }
      }
    }
  }
  return out;
}

}  // namespace v2x::detection
