#include "v2x/encoder/config.hpp"

#include <cmath>

namespace v2x::encoder {

void DetectorConfig::check(const std::string& file) const {
  if (pillars.x_max_m <= pillars.x_min_m) throw ConfigError(file, "pillars.x_max_m", "must exceed x_min_m");
  if (pillars.y_max_m <= pillars.y_min_m) throw ConfigError(file, "pillars.y_max_m", "must exceed y_min_m");
  if (pillars.z_max_m <= pillars.z_min_m) throw ConfigError(file, "pillars.z_max_m", "must exceed z_min_m");
  const auto whole = [](double span, double cell) {
    const double n = span / cell;
    return std::abs(n - std::round(n)) < 1e-6;
  };
  if (!whole(pillars.x_max_m - pillars.x_min_m, pillars.pillar_m) ||
      !whole(pillars.y_max_m - pillars.y_min_m, pillars.pillar_m))
    throw ConfigError(file, "pillars.pillar_m", "range must be a whole number of pillars");
  const std::size_t n = net.block_channels.size();
  if (n == 0) throw ConfigError(file, "net.block_channels", "needs at least one block");
  if (net.block_layers.size() != n) throw ConfigError(file, "net.block_layers", "needs one entry per block");
  if (net.block_strides.size() != n) throw ConfigError(file, "net.block_strides", "needs one entry per block");
  if (net.fuse_kernel != 1 && net.fuse_kernel != 3) throw ConfigError(file, "net.fuse_kernel", "must be 1 or 3");
  int total = 1;
  for (int s : net.block_strides) total *= s;
  const BevGrid g = pillars.grid();
  if (g.width() % total != 0 || g.height() % total != 0)
    throw ConfigError(file, "net.block_strides",
                      "pillar grid " + g.describe() + " is not divisible by the total stride " + std::to_string(total));
  if (anchors.yaws_deg.empty()) throw ConfigError(file, "anchors.yaws_deg", "needs at least one anchor yaw");
  if (anchors.sizes.empty()) throw ConfigError(file, "anchors.sizes", "needs at least one anchor size");
  if (coder.num_dir_bins != 2) throw ConfigError(file, "coder.num_dir_bins", "the head has 2 direction bins");
  assign.check(file);
}

detection::AnchorConfig DetectorConfig::anchor_config() const {
  const BevGrid g = feature_grid();
  detection::AnchorConfig a;
  a.x_min_m = g.x_min_m;
  a.x_max_m = g.x_max_m;
  a.y_min_m = g.y_min_m;
  a.y_max_m = g.y_max_m;
  a.cell_m = g.cell_m;
  a.sizes = anchors.sizes;
  a.yaws_deg = anchors.yaws_deg;
  return a;
}

}  // namespace v2x::encoder
