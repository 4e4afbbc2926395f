#include "v2x/core/grid.hpp"

#include <cmath>
#include <cstdio>

namespace v2x {

int BevGrid::width() const { return static_cast<int>(std::lround((x_max_m - x_min_m) / cell_m)); }
int BevGrid::height() const { return static_cast<int>(std::lround((y_max_m - y_min_m) / cell_m)); }

bool BevGrid::contains(double x, double y) const { return x >= x_min_m && x < x_max_m && y >= y_min_m && y < y_max_m; }

std::optional<std::pair<int, int>> BevGrid::cell_of(double x, double y) const {
  if (!contains(x, y)) return std::nullopt;
  const int ix = static_cast<int>(std::floor((x - x_min_m) / cell_m));
  const int iy = static_cast<int>(std::floor((y - y_min_m) / cell_m));
  if (ix < 0 || iy < 0 || ix >= width() || iy >= height()) return std::nullopt;  // float edge at x_max
  return std::make_pair(ix, iy);
}

BevGrid BevGrid::downsampled(int factor) const {
  BevGrid g = *this;
  g.cell_m = cell_m * factor;
  return g;
}

bool BevGrid::operator==(const BevGrid& o) const {
  auto eq = [](double a, double b) { return std::abs(a - b) < 1e-9; };
  return eq(x_min_m, o.x_min_m) && eq(x_max_m, o.x_max_m) && eq(y_min_m, o.y_min_m) && eq(y_max_m, o.y_max_m) &&
         eq(cell_m, o.cell_m);
}

std::string BevGrid::describe() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "x[%g,%g) y[%g,%g) cell %g m (%dx%d)", x_min_m, x_max_m, y_min_m, y_max_m, cell_m,
                width(), height());
  return buf;
}

}  // namespace v2x
