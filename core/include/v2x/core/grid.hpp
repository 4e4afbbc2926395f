#pragma once
// BEV grid: a metric rectangle [x_min, x_max) × [y_min, y_max) split into square cells.
// Cell (ix, iy): ix along +x (columns, W), iy along +y (rows, H). Maps are stored row-major (H, W).
#include <cstdint>
#include <optional>
#include <string>

namespace v2x {

struct BevGrid {
  double x_min_m = -51.2, x_max_m = 51.2;
  double y_min_m = -51.2, y_max_m = 51.2;
  double cell_m = 0.4;

  int width() const;   // cells along x
  int height() const;  // cells along y
  std::int64_t num_cells() const { return static_cast<std::int64_t>(width()) * height(); }
  bool contains(double x_m, double y_m) const;
  // Cell containing (x, y), or nullopt outside the grid.
  std::optional<std::pair<int, int>> cell_of(double x_m, double y_m) const;
  double cell_center_x(int ix) const { return x_min_m + (ix + 0.5) * cell_m; }
  double cell_center_y(int iy) const { return y_min_m + (iy + 0.5) * cell_m; }
  // A grid with cells `factor` times larger (the backbone's output stride).
  BevGrid downsampled(int factor) const;
  bool operator==(const BevGrid& o) const;
  std::string describe() const;  // "x[-51.2,51.2) y[-51.2,51.2) cell 0.4 m (256x256)"
};

}  // namespace v2x
