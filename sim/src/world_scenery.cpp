// Scenery (sidewalks, buildings, walls, trees, poles), the ground raster, actor shapes and spawning.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "v2x/core/config.hpp"
#include "v2x/sim/world.hpp"

namespace v2x::sim {
namespace {

using Rgb = std::array<std::uint8_t, 3>;
Eigen::Vector2d perp_left(const Eigen::Vector2d& u) { return {-u.y(), u.x()}; }
double clampd(double x, double lo, double hi) { return std::max(lo, std::min(hi, x)); }

template <class T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.next_u64() % i);
    std::swap(v[i - 1], v[j]);
  }
}

Rgb pick(Rng& rng, const std::vector<Rgb>& palette) { return palette[static_cast<std::size_t>(rng.next_u64() % palette.size())]; }

const std::vector<Rgb> kCarColors = {{200, 200, 205}, {30, 30, 35},  {240, 240, 240}, {120, 125, 130},
                                     {150, 20, 25},   {20, 50, 120}, {60, 90, 60},    {180, 150, 90},
                                     {90, 20, 30},    {215, 215, 220}, {25, 25, 28},  {100, 140, 190}};
const std::vector<Rgb> kBuildingColors = {{190, 180, 160}, {160, 150, 140}, {170, 95, 75}, {210, 205, 195},
                                          {130, 130, 135}, {200, 185, 150}, {150, 110, 90}, {185, 190, 195}};
const std::vector<Rgb> kClothes = {{40, 40, 60}, {150, 30, 30}, {30, 80, 140}, {200, 200, 190}, {60, 60, 60}, {180, 140, 60}};
constexpr Rgb kConcrete{172, 170, 165};
constexpr Rgb kWallRgb{165, 160, 150};
constexpr Rgb kMetalRgb{95, 100, 105};

struct Rect {
  double x0, y0, x1, y1;
  double w() const { return x1 - x0; }
  double h() const { return y1 - y0; }
};

void split_lots(const Rect& r, double max_lot, double min_lot, Rng& rng, std::vector<Rect>& out, int depth = 0) {
  const bool split_x = r.w() >= r.h();
  const double len = split_x ? r.w() : r.h();
  if (len <= max_lot || len < 2 * min_lot || depth > 12) {
    out.push_back(r);
    return;
  }
  const double f = rng.uniform(0.35, 0.65);
  const double cut = std::clamp(f * len, min_lot, len - min_lot);
  if (split_x) {
    split_lots({r.x0, r.y0, r.x0 + cut, r.y1}, max_lot, min_lot, rng, out, depth + 1);
    split_lots({r.x0 + cut, r.y0, r.x1, r.y1}, max_lot, min_lot, rng, out, depth + 1);
  } else {
    split_lots({r.x0, r.y0, r.x1, r.y0 + cut}, max_lot, min_lot, rng, out, depth + 1);
    split_lots({r.x0, r.y0 + cut, r.x1, r.y1}, max_lot, min_lot, rng, out, depth + 1);
  }
}

}  // namespace

void World::add_strip(const Eigen::Vector2d& a, const Eigen::Vector2d& b, double width, double z0, double z1, Material m,
                      Rgb rgb, double max_seg_m) {
  const double len = (b - a).norm();
  if (len < 1e-3) return;
  const Eigen::Vector2d u = (b - a) / len;
  const int n = std::max(1, static_cast<int>(std::ceil(len / max_seg_m)));
  const double yaw = std::atan2(u.y(), u.x());
  for (int i = 0; i < n; ++i) {
    const Eigen::Vector2d c = a + u * (len * (i + 0.5) / n);
    static_prims_.push_back(BoxPrim::make({c.x(), c.y(), 0.5 * (z0 + z1)}, {len / n, width, z1 - z0}, yaw, m, -1,
                                          rgb[0], rgb[1], rgb[2]));
  }
}

void World::add_tree(const Eigen::Vector2d& p, Rng& rng) {
  const double trunk_h = rng.uniform(2.0, 3.2), crown_d = rng.uniform(2.6, 5.0), crown_h = rng.uniform(2.5, 4.5);
  const auto g = static_cast<std::uint8_t>(rng.uniform_int(70, 110));
  static_prims_.push_back(BoxPrim::make({p.x(), p.y(), 0.5 * trunk_h + 0.1}, {0.28, 0.28, trunk_h + 0.2}, 0,
                                        Material::Bark, -1, 90, 70, 50));
  const double yaw0 = rng.uniform(0, 1.57);
  const double zc = trunk_h + 0.5 * crown_h;
  static_prims_.push_back(BoxPrim::make({p.x(), p.y(), zc}, {crown_d, crown_d * 0.72, crown_h}, yaw0, Material::Foliage,
                                        -1, 50, g, 40));
  static_prims_.push_back(BoxPrim::make({p.x(), p.y(), zc}, {crown_d * 0.72, crown_d, crown_h * 0.8}, yaw0 + 0.785,
                                        Material::Foliage, -1, 55, static_cast<std::uint8_t>(g + 10), 45));
  static_prims_.push_back(BoxPrim::make({p.x(), p.y(), zc + 0.45 * crown_h}, {crown_d * 0.6, crown_d * 0.6, crown_h * 0.4},
                                        yaw0 + 0.4, Material::Foliage, -1, 60, g, 45));
}

void World::add_street_light(const Eigen::Vector2d& p, const Eigen::Vector2d& towards_road) {
  const double h = 8.0;
  static_prims_.push_back(BoxPrim::make({p.x(), p.y(), 0.5 * h}, {0.2, 0.2, h}, 0, Material::Metal, -1, kMetalRgb[0],
                                        kMetalRgb[1], kMetalRgb[2]));
  const Eigen::Vector2d arm = p + towards_road * 0.9;
  const double yaw = std::atan2(towards_road.y(), towards_road.x());
  static_prims_.push_back(BoxPrim::make({arm.x(), arm.y(), h - 0.1}, {1.8, 0.12, 0.12}, yaw, Material::Metal, -1,
                                        kMetalRgb[0], kMetalRgb[1], kMetalRgb[2]));
  const Eigen::Vector2d lamp = p + towards_road * 1.7;
  static_prims_.push_back(BoxPrim::make({lamp.x(), lamp.y(), h - 0.25}, {0.6, 0.3, 0.18}, yaw, Material::Metal, -1, 200,
                                        200, 190));
}

void World::build_scenery(Rng& rng) {
  const auto& tc = cfg_.town;
  const bool suburban = tc.layout == TownLayout::Suburban;
  if (tc.layout == TownLayout::HighwayMerge) {
    const auto& hw = edges_[0];
    const double hwh = hw.half_width_m();
    const double L = tc.highway_length_m;
    const Eigen::Vector2d W = nodes_[0].p, E = nodes_[2].p, R = nodes_[3].p, M = nodes_[1].p;
    const double clear = nodes_[1].half_extent.x();
    // Median barrier, shoulders' walls and guard rails.
    add_strip(W, E, 0.5, 0.0, 0.85, Material::Concrete, kConcrete);
    add_strip({W.x(), hwh + 4.0}, {E.x(), hwh + 4.0}, 0.3, 0.0, 4.0, Material::Wall, kWallRgb);
    add_strip({clear + 10.0, -hwh - 4.0}, {E.x(), -hwh - 4.0}, 0.3, 0.0, 4.0, Material::Wall, kWallRgb);
    add_strip({W.x(), -hwh - 4.0}, {R.x() - 15.0, -hwh - 4.0}, 0.3, 0.0, 4.0, Material::Wall, kWallRgb);
    const double rail_end = -(hwh + 0.5 * tc.lane_width_m + 2.5) / std::tan(deg_to_rad(tc.ramp_angle_deg));
    add_strip({R.x(), -hwh - 1.0}, {rail_end, -hwh - 1.0}, 0.2, 0.4, 0.9, Material::Metal, kMetalRgb);
    const Eigen::Vector2d ru = (M - R).normalized(), rn = perp_left(ru);
    add_strip(R - rn * 5.0, R - rn * 5.0 + ru * ((M - R).norm() - clear), 0.3, 0.0, 3.0, Material::Wall, kWallRgb);
    // Light poles on the median, trees and warehouses behind the walls.
    for (double x = W.x() + 20; x < E.x() - 20; x += 45.0) {
      static_prims_.push_back(BoxPrim::make({x, 0, 5.0}, {0.25, 0.25, 10.0}, 0, Material::Metal, -1, 110, 110, 115));
      static_prims_.push_back(BoxPrim::make({x, 0, 9.9}, {0.15, 5.0, 0.15}, 0, Material::Metal, -1, 110, 110, 115));
    }
    for (double x = W.x() + 10; x < E.x() - 10; x += rng.uniform(8, 20)) {
      add_tree({x, hwh + rng.uniform(7, 25)}, rng);
      if (x > clear + 15 || x < R.x() - 20) add_tree({x + rng.uniform(-3, 3), -hwh - rng.uniform(7, 25)}, rng);
    }
    for (double x = W.x() + 40; x < E.x() - 60; x += rng.uniform(50, 110)) {
      const double l = rng.uniform(25, 60), w = rng.uniform(18, 40), h = rng.uniform(6, 14);
      const Rgb c = pick(rng, kBuildingColors);
      static_prims_.push_back(BoxPrim::make({x, hwh + 32 + 0.5 * w, 0.5 * h}, {l, w, h}, 0, Material::Building, -1, c[0], c[1], c[2]));
      if (x > clear + 40) {
        const Rgb c2 = pick(rng, kBuildingColors);
        static_prims_.push_back(BoxPrim::make({x, -hwh - 32 - 0.5 * w, 0.5 * h}, {l, w * 0.8, h}, 0, Material::Building, -1,
                                              c2[0], c2[1], c2[2]));
      }
    }
    (void)L;
    return;
  }
  // Grid towns.
  const int nx = static_cast<int>(grid_xs_.size()), ny = static_cast<int>(grid_ys_.size());
  auto road_half_width = [&](int a, int b) {
    for (const auto& e : edges_)
      if ((e.a == a && e.b == b) || (e.a == b && e.b == a)) return e.half_width_m();
    for (std::size_t k = 0; k < plazas_.size(); ++k)
      if ((plazas_[k][0] == a && plazas_[k][1] == b) || (plazas_[k][0] == b && plazas_[k][1] == a)) return plaza_half_width_[k];
    return 4.0;
  };
  const double sw = tc.sidewalk_width_m;
  const double o1 = 0.35 * sw + 0.1, o2 = o1 + 1.0;  // pedestrian loop insets from the curb
  for (int j = 0; j + 1 < ny; ++j)
    for (int i = 0; i + 1 < nx; ++i) {
      const int n00 = j * nx + i, n10 = n00 + 1, n01 = n00 + nx, n11 = n01 + 1;
      const Rect curb{grid_xs_[i] + road_half_width(n00, n01), grid_ys_[j] + road_half_width(n00, n10),
                      grid_xs_[i + 1] - road_half_width(n10, n11), grid_ys_[j + 1] - road_half_width(n01, n11)};
      if (curb.w() < 2 * sw + 6 || curb.h() < 2 * sw + 6) continue;
      // Sidewalk ring, 0.15 m above the road.
      add_strip({curb.x0, curb.y0 + 0.5 * sw}, {curb.x1, curb.y0 + 0.5 * sw}, sw, 0.0, 0.15, Material::Concrete, kConcrete);
      add_strip({curb.x0, curb.y1 - 0.5 * sw}, {curb.x1, curb.y1 - 0.5 * sw}, sw, 0.0, 0.15, Material::Concrete, kConcrete);
      add_strip({curb.x0 + 0.5 * sw, curb.y0 + sw}, {curb.x0 + 0.5 * sw, curb.y1 - sw}, sw, 0.0, 0.15, Material::Concrete, kConcrete);
      add_strip({curb.x1 - 0.5 * sw, curb.y0 + sw}, {curb.x1 - 0.5 * sw, curb.y1 - sw}, sw, 0.0, 0.15, Material::Concrete, kConcrete);
      // Pedestrian loops: the inner one counter-clockwise, the outer one clockwise.
      for (int k = 0; k < 2; ++k) {
        const double o = k == 0 ? o1 : o2;
        Polyline loop;
        const Eigen::Vector2d a(curb.x0 + o, curb.y0 + o), b(curb.x1 - o, curb.y0 + o), c(curb.x1 - o, curb.y1 - o),
            d(curb.x0 + o, curb.y1 - o);
        loop.pts = k == 0 ? std::vector<Eigen::Vector2d>{a, b, c, d, a} : std::vector<Eigen::Vector2d>{a, d, c, b, a};
        loop.finish();
        walks_.push_back(std::move(loop));
      }
      // Street trees and lights along the curb.
      const double t_off = 0.35;
      const Eigen::Vector2d corners[4] = {{curb.x0 + t_off, curb.y0 + t_off}, {curb.x1 - t_off, curb.y0 + t_off},
                                          {curb.x1 - t_off, curb.y1 - t_off}, {curb.x0 + t_off, curb.y1 - t_off}};
      for (int side = 0; side < 4; ++side) {
        const Eigen::Vector2d a = corners[side], b = corners[(side + 1) % 4];
        const double len = (b - a).norm();
        const Eigen::Vector2d u = (b - a) / len;
        const Eigen::Vector2d to_road = -perp_left(u);  // ring runs counter-clockwise: the road is on the right
        std::vector<double> tree_s;
        if (tc.tree_spacing_m > 0)
          for (double s = 6.0 + rng.uniform(0, tc.tree_spacing_m); s < len - 6.0; s += tc.tree_spacing_m * rng.uniform(0.8, 1.2)) {
            if (rng.bernoulli(0.15)) continue;
            add_tree(a + u * s, rng);
            tree_s.push_back(s);
          }
        if (tc.pole_spacing_m > 0)
          for (double s = 8.0 + rng.uniform(0, 0.5 * tc.pole_spacing_m); s < len - 8.0; s += tc.pole_spacing_m) {
            bool near_tree = false;
            for (double ts : tree_s) near_tree = near_tree || std::abs(ts - s) < 2.0;
            if (!near_tree) add_street_light(a + u * s, to_road);
          }
      }
      // Lots and buildings inside the ring.
      const Rect inner{curb.x0 + sw, curb.y0 + sw, curb.x1 - sw, curb.y1 - sw};
      std::vector<Rect> lots;
      split_lots(inner, suburban ? 26.0 : 34.0, suburban ? 14.0 : 10.0, rng, lots);
      for (const auto& lot : lots) {
        const bool on_street = lot.x0 <= inner.x0 + 1e-6 || lot.y0 <= inner.y0 + 1e-6 || lot.x1 >= inner.x1 - 1e-6 ||
                               lot.y1 >= inner.y1 - 1e-6;
        const Rgb col = pick(rng, kBuildingColors);
        if (suburban) {
          const double set = rng.uniform(3.5, 6.0);
          Rect house{lot.x0 + set, lot.y0 + set, lot.x1 - set, lot.y1 - set};
          if (house.w() < 6 || house.h() < 6) continue;
          house.x1 = std::min(house.x1, house.x0 + rng.uniform(9, 16));
          house.y1 = std::min(house.y1, house.y0 + rng.uniform(8, 14));
          const double h = rng.uniform(tc.building_height_min_m, tc.building_height_max_m);
          const Eigen::Vector2d c(0.5 * (house.x0 + house.x1), 0.5 * (house.y0 + house.y1));
          static_prims_.push_back(BoxPrim::make({c.x(), c.y(), 0.5 * h}, {house.w(), house.h(), h}, 0, Material::Building, -1,
                                                col[0], col[1], col[2]));
          // A narrower upper box reads as a pitched roof.
          const bool along_x = house.w() > house.h();
          static_prims_.push_back(BoxPrim::make({c.x(), c.y(), h + 0.7}, {along_x ? house.w() : house.w() * 0.5,
                                                along_x ? house.h() * 0.5 : house.h(), 1.4}, 0, Material::Building, -1, 120, 60, 50));
          // Fences on the lot sides facing the street, with a driveway gap.
          const double fh = rng.uniform(0.9, 1.8);
          auto fence = [&](Eigen::Vector2d a, Eigen::Vector2d b) {
            const double len = (b - a).norm();
            const Eigen::Vector2d u = (b - a) / len;
            const double g0 = rng.uniform(0.2, 0.6) * len;
            add_strip(a + u * 0.3, a + u * g0, 0.2, 0.0, fh, Material::Wall, kWallRgb);
            add_strip(a + u * (g0 + 3.5), b - u * 0.3, 0.2, 0.0, fh, Material::Wall, kWallRgb);
          };
          if (lot.y0 <= inner.y0 + 1e-6) fence({lot.x0, lot.y0 + 0.3}, {lot.x1, lot.y0 + 0.3});
          if (lot.y1 >= inner.y1 - 1e-6) fence({lot.x0, lot.y1 - 0.3}, {lot.x1, lot.y1 - 0.3});
          if (lot.x0 <= inner.x0 + 1e-6) fence({lot.x0 + 0.3, lot.y0}, {lot.x0 + 0.3, lot.y1});
          if (lot.x1 >= inner.x1 - 1e-6) fence({lot.x1 - 0.3, lot.y0}, {lot.x1 - 0.3, lot.y1});
          if (rng.bernoulli(0.7)) add_tree({rng.uniform(lot.x0 + 1.5, lot.x1 - 1.5), rng.uniform(lot.y0 + 1.5, lot.y1 - 1.5)}, rng);
          continue;
        }
        if (!on_street && rng.bernoulli(0.5)) {  // courtyard
          if (rng.bernoulli(0.5)) add_tree({0.5 * (lot.x0 + lot.x1), 0.5 * (lot.y0 + lot.y1)}, rng);
          continue;
        }
        const double gap = rng.uniform(0.0, 1.2);
        const Rect b{lot.x0 + gap, lot.y0 + gap, lot.x1 - gap, lot.y1 - gap};
        if (b.w() < 4 || b.h() < 4) continue;
        double h = rng.uniform(tc.building_height_min_m, tc.building_height_max_m);
        if (!on_street) h = std::min(h, tc.building_height_min_m + 2.0);
        const Eigen::Vector2d c(0.5 * (b.x0 + b.x1), 0.5 * (b.y0 + b.y1));
        static_prims_.push_back(BoxPrim::make({c.x(), c.y(), 0.5 * h}, {b.w(), b.h(), h}, 0, Material::Building, -1, col[0],
                                              col[1], col[2]));
        if (rng.bernoulli(0.4)) {  // rooftop structure
          const double rw = std::min(b.w(), b.h()) * rng.uniform(0.2, 0.4);
          static_prims_.push_back(BoxPrim::make({c.x() + rng.uniform(-0.2, 0.2) * b.w(), c.y() + rng.uniform(-0.2, 0.2) * b.h(),
                                                 h + 1.2}, {rw, rw, 2.4}, 0, Material::Concrete, -1, 150, 150, 150));
        }
        if (rng.bernoulli(0.3)) {  // ground-floor canopy / glass storefront band on the street side
          static_prims_.push_back(BoxPrim::make({c.x(), c.y(), 1.6}, {b.w() + 0.3, b.h() + 0.3, 3.0}, 0, Material::Glass, -1, 60,
                                                70, 80));
        }
      }
    }
  // Traffic-light poles at two diagonal corners of every real intersection.
  for (const auto& n : nodes_) {
    if (n.edges.size() < 3) continue;
    const double hx = n.half_extent.x(), hy = n.half_extent.y();
    for (int k = 0; k < 2; ++k) {
      const double sx = k == 0 ? 1.0 : -1.0, sy = k == 0 ? -1.0 : 1.0;
      const Eigen::Vector2d p = n.p + Eigen::Vector2d(sx * (hx + 0.4), sy * (hy + 0.4));
      static_prims_.push_back(BoxPrim::make({p.x(), p.y(), 2.9}, {0.25, 0.25, 5.8}, 0, Material::Metal, -1, 70, 75, 70));
      const Eigen::Vector2d arm = p + Eigen::Vector2d(-sx * 0.5 * hx, 0);
      static_prims_.push_back(BoxPrim::make({arm.x(), arm.y(), 5.6}, {hx, 0.15, 0.15}, 0, Material::Metal, -1, 70, 75, 70));
      const Eigen::Vector2d head = p + Eigen::Vector2d(-sx * 0.8 * hx, 0);
      static_prims_.push_back(BoxPrim::make({head.x(), head.y(), 5.0}, {0.35, 0.35, 1.0}, 0, Material::Metal, -1, 30, 30, 30));
    }
  }
  // Pedestrian strips where roads were removed: bollards at both ends, trees, benches.
  for (std::size_t k = 0; k < plazas_.size(); ++k) {
    const auto& A = nodes_[plazas_[k][0]];
    const auto& B = nodes_[plazas_[k][1]];
    const Eigen::Vector2d u = (B.p - A.p).normalized(), n = perp_left(u);
    const bool horizontal = std::abs(u.y()) < 0.5;
    const double ca = horizontal ? A.half_extent.x() : A.half_extent.y();
    const double cb = horizontal ? B.half_extent.x() : B.half_extent.y();
    const double hwp = plaza_half_width_[k];
    for (double l = -hwp + 0.8; l <= hwp - 0.8; l += 1.6) {
      for (const Eigen::Vector2d& base : {Eigen::Vector2d(A.p + u * (ca + 0.5)), Eigen::Vector2d(B.p - u * (cb + 0.5))}) {
        const Eigen::Vector2d q = base + n * l;
        static_prims_.push_back(BoxPrim::make({q.x(), q.y(), 0.5}, {0.2, 0.2, 1.0}, 0, Material::Metal, -1, 60, 60, 60));
      }
    }
    const double len = (B.p - A.p).norm();
    for (double s = ca + 8; s < len - cb - 8; s += rng.uniform(10, 16)) {
      add_tree(A.p + u * s + n * (0.45 * hwp), rng);
      const Eigen::Vector2d bench = A.p + u * (s + 4) - n * (0.5 * hwp);
      static_prims_.push_back(BoxPrim::make({bench.x(), bench.y(), 0.25}, {1.8, 0.55, 0.5}, std::atan2(u.y(), u.x()),
                                            Material::Wall, -1, 120, 90, 60));
    }
  }
}

void World::paint_ground() {
  const auto& tc = cfg_.town;
  ground_.res_m = 0.2;
  ground_.x0_m = bounds_[0];
  ground_.y0_m = bounds_[1];
  ground_.width = static_cast<int>(std::ceil((bounds_[2] - bounds_[0]) / ground_.res_m));
  ground_.height = static_cast<int>(std::ceil((bounds_[3] - bounds_[1]) / ground_.res_m));
  const Ground base = tc.layout == TownLayout::UrbanGrid ? Ground::Paving : Ground::Grass;
  ground_.cells.assign(static_cast<std::size_t>(ground_.width) * ground_.height, static_cast<std::uint8_t>(base));
  if (tc.layout == TownLayout::Suburban) {
    // Suburban lots: grass; the strips between sidewalks and lots are grass too (base).
  }
  for (std::size_t k = 0; k < plazas_.size(); ++k) {
    const auto& A = nodes_[plazas_[k][0]].p;
    const auto& B = nodes_[plazas_[k][1]].p;
    ground_.paint_rect(0.5 * (A + B), (B - A).normalized(), 0.5 * (B - A).norm(), plaza_half_width_[k], Ground::Paving);
  }
  for (const auto& e : edges_) {
    const Eigen::Vector2d pa = nodes_[e.a].p, pb = nodes_[e.b].p;
    const Eigen::Vector2d u = (pb - pa).normalized();
    const double len = (pb - pa).norm();
    const double hw = e.half_width_m();
    if (tc.layout == TownLayout::HighwayMerge)
      ground_.paint_rect(0.5 * (pa + pb), u, 0.5 * len, hw + 2.5, Ground::Gravel);
    ground_.paint_rect(0.5 * (pa + pb), u, 0.5 * len, hw, Ground::Asphalt);
  }
  for (const auto& n : nodes_)
    if (n.paved_square && n.edges.size() > 0)
      ground_.paint_rect(n.p, {1, 0}, n.half_extent.x(), n.half_extent.y(), Ground::Asphalt);
  for (const auto& m : movements_) {
    const double w = edges_[lanes_[m.in_lane].edge].lane_width_m;
    for (std::size_t i = 1; i < m.path.pts.size(); ++i) {
      const Eigen::Vector2d a = m.path.pts[i - 1], b = m.path.pts[i];
      if ((b - a).norm() < 1e-6) continue;
      ground_.paint_rect(0.5 * (a + b), (b - a).normalized(), 0.5 * (b - a).norm() + 0.15, 0.5 * w + 0.6, Ground::Asphalt);
    }
  }
  // Markings.
  auto clearance = [&](int node, int edge) {
    const auto& n = nodes_[node];
    for (std::size_t k = 0; k < n.edges.size(); ++k)
      if (n.edges[k] == edge) return n.clearance_m[k];
    return 0.0;
  };
  for (std::size_t ei = 0; ei < edges_.size(); ++ei) {
    const auto& e = edges_[ei];
    const Eigen::Vector2d pa = nodes_[e.a].p, pb = nodes_[e.b].p;
    const Eigen::Vector2d u = (pb - pa).normalized(), n = perp_left(u);
    const double da = clearance(e.a, static_cast<int>(ei)), db = clearance(e.b, static_cast<int>(ei));
    const double s0 = da, s1 = (pb - pa).norm() - db;
    if (s1 - s0 < 2) continue;
    const double c = e.centre_offset_m(), gap = e.median_gap_m(), w = e.lane_width_m;
    auto solid = [&](double lat, Ground g, double s_from, double s_to) {
      if (s_to <= s_from) return;
      ground_.paint_rect(pa + u * (0.5 * (s_from + s_to)) + n * lat, u, 0.5 * (s_to - s_from), 0.08, g);
    };
    auto dashed = [&](double lat) {
      for (double s = s0 + 1; s + 3 < s1 - 4; s += 9) solid(lat, Ground::WhiteMark, s, s + 3);
    };
    const bool crosswalks = tc.layout != TownLayout::HighwayMerge;
    const double cw = crosswalks ? 3.5 : 0.0;
    if (e.lanes_fwd > 0 && e.lanes_bwd > 0 && !e.median_barrier) {
      solid(c + 0.12, Ground::YellowMark, s0 + cw, s1 - cw);
      solid(c - 0.12, Ground::YellowMark, s0 + cw, s1 - cw);
    }
    for (int k = 1; k < e.lanes_fwd; ++k) dashed(c - gap - k * w);
    for (int k = 1; k < e.lanes_bwd; ++k) dashed(c + gap + k * w);
    const double right_edge = c - gap - e.lanes_fwd * w, left_edge = c + gap + e.lanes_bwd * w;
    solid(right_edge + 0.15, Ground::WhiteMark, s0 + cw, s1 - cw);
    solid(left_edge - 0.15, Ground::WhiteMark, s0 + cw, s1 - cw);
    if (e.median_barrier) {
      solid(c - gap - 0.15, Ground::YellowMark, s0, s1);
      solid(c + gap + 0.15, Ground::YellowMark, s0, s1);
    }
    if (crosswalks) {
      // Zebra crossings and stop lines at intersections (nodes with ≥ 3 roads).
      for (int end = 0; end < 2; ++end) {
        const int node = end == 0 ? e.a : e.b;
        if (nodes_[node].edges.size() < 3) continue;
        const double s_edge = end == 0 ? s0 : s1;
        const double dir = end == 0 ? 1.0 : -1.0;
        for (double l = -e.half_width_m() + 0.6; l < e.half_width_m() - 0.3; l += 1.0)
          ground_.paint_rect(pa + u * (s_edge + dir * 1.7) + n * (c + l), u, 1.4, 0.25, Ground::WhiteMark);
        // Stop line across the lanes arriving at this node.
        const double lat_lo = end == 1 ? right_edge : c + gap, lat_hi = end == 1 ? c - gap : left_edge;
        ground_.paint_rect(pa + u * (s_edge + dir * 3.8) + n * (0.5 * (lat_lo + lat_hi)), u, 0.2, 0.5 * (lat_hi - lat_lo), Ground::WhiteMark);
      }
    }
  }
}

Actor World::make_actor(ObjectClass cls, Rng& rng) {
  Actor a;
  a.cls = cls;
  auto nrm = [&](double m, double s, double lo, double hi) { return clampd(rng.normal(m, s), lo, hi); };
  switch (cls) {
    case ObjectClass::Car:
      a.shape = rng.uniform_int(0, 2);  // sedan, hatchback, SUV
      a.size = {nrm(4.5, 0.3, 3.6, 5.2), nrm(1.82, 0.08, 1.6, 2.0), a.shape == 2 ? nrm(1.72, 0.08, 1.55, 1.95) : nrm(1.48, 0.06, 1.35, 1.62)};
      a.color = pick(rng, kCarColors);
      break;
    case ObjectClass::Van:
      a.size = {rng.uniform(4.8, 6.2), rng.uniform(1.9, 2.1), rng.uniform(1.9, 2.6)};
      a.color = pick(rng, kCarColors);
      break;
    case ObjectClass::Truck:
      a.size = {rng.uniform(6.5, 10.0), rng.uniform(2.3, 2.55), rng.uniform(2.9, 3.8)};
      a.color = pick(rng, kCarColors);
      break;
    case ObjectClass::Bus:
      a.size = {rng.uniform(10.5, 12.5), rng.uniform(2.45, 2.6), rng.uniform(3.0, 3.4)};
      a.color = rng.bernoulli(0.5) ? Rgb{200, 160, 30} : Rgb{40, 90, 160};
      break;
    case ObjectClass::Cyclist:
      a.size = {rng.uniform(1.6, 1.9), rng.uniform(0.55, 0.75), rng.uniform(1.6, 1.9)};
      a.color = pick(rng, kClothes);
      break;
    case ObjectClass::Pedestrian:
      a.size = {rng.uniform(0.4, 0.6), rng.uniform(0.5, 0.7), rng.uniform(1.5, 1.95)};
      a.color = pick(rng, kClothes);
      break;
    default:
      break;
  }
  return a;
}

void World::actor_prims(const Actor& a, std::vector<BoxPrim>& out) const {
  const double l = a.size.x(), w = a.size.y(), h = a.size.z();
  const double c = std::cos(a.yaw_rad), s = std::sin(a.yaw_rad);
  auto part = [&](double x0, double x1, double y0, double y1, double z0, double z1, Material m, Rgb rgb) {
    const double lx = 0.5 * (x0 + x1), ly = 0.5 * (y0 + y1);
    const Eigen::Vector3d ctr(a.pos.x() + c * lx - s * ly, a.pos.y() + s * lx + c * ly, a.pos.z() + 0.5 * (z0 + z1));
    out.push_back(BoxPrim::make(ctr, {x1 - x0, y1 - y0, z1 - z0}, a.yaw_rad, m, a.id, rgb[0], rgb[1], rgb[2]));
  };
  const Rgb body = a.color, glass{40, 50, 60}, tire{20, 20, 20}, skin{200, 160, 130};
  auto wheels = [&](double xf, double xr, double d) {
    for (double x : {xf, xr})
      for (double y : {0.5 * w - 0.14, -0.5 * w + 0.14})
        part(x - 0.5 * d, x + 0.5 * d, y - 0.13, y + 0.13, 0.0, d, Material::Tire, tire);
  };
  switch (a.cls) {
    case ObjectClass::Car: {
      const double zb = a.shape == 2 ? 0.55 * h : 0.5 * h;
      const double clr = a.shape == 2 ? 0.28 : 0.2;
      wheels(0.5 * l - 0.85, -0.5 * l + 0.85, 0.64);
      part(-0.5 * l, 0.5 * l, -0.5 * w, 0.5 * w, clr, zb, Material::Paint, body);
      double cx0, cx1;
      if (a.shape == 0) cx0 = -0.32 * l, cx1 = 0.18 * l;       // sedan
      else if (a.shape == 1) cx0 = -0.47 * l, cx1 = 0.15 * l;  // hatchback
      else cx0 = -0.48 * l, cx1 = 0.22 * l;                    // SUV
      part(cx0, cx1, -0.43 * w, 0.43 * w, zb, h - 0.08, Material::Glass, glass);
      part(cx0 + 0.1, cx1 - 0.1, -0.44 * w, 0.44 * w, h - 0.08, h, Material::Paint, body);  // roof
      break;
    }
    case ObjectClass::Van:
      wheels(0.5 * l - 0.9, -0.5 * l + 1.0, 0.7);
      part(0.32 * l, 0.5 * l, -0.5 * w, 0.5 * w, 0.3, 0.5 * h, Material::Paint, body);          // hood
      part(0.22 * l, 0.34 * l, -0.47 * w, 0.47 * w, 0.5 * h, 0.92 * h, Material::Glass, glass);  // windscreen
      part(-0.5 * l, 0.32 * l, -0.5 * w, 0.5 * w, 0.3, h, Material::Paint, body);
      break;
    case ObjectClass::Truck: {
      const double cab = 2.2;
      wheels(0.5 * l - 1.0, -0.5 * l + 1.3, 1.0);
      part(0.5 * l - cab, 0.5 * l, -0.5 * w, 0.5 * w, 0.5, 0.78 * h, Material::Paint, body);
      part(0.5 * l - cab + 0.2, 0.5 * l - 0.1, -0.48 * w, 0.48 * w, 0.78 * h - 0.01, 0.85 * h, Material::Glass, glass);
      part(-0.5 * l, -0.5 * l + (l - cab - 0.3), -0.5 * w, 0.5 * w, 0.5, 0.95, Material::Metal, {60, 60, 60});  // chassis
      part(-0.5 * l, 0.5 * l - cab - 0.3, -0.5 * w, 0.5 * w, 0.95, h, Material::Metal, {215, 215, 210});        // cargo box
      break;
    }
    case ObjectClass::Bus:
      wheels(0.5 * l - 2.6, -0.5 * l + 3.0, 1.0);
      part(-0.5 * l, 0.5 * l, -0.5 * w, 0.5 * w, 0.35, 0.45 * h, Material::Paint, body);
      part(-0.5 * l, 0.5 * l, -0.5 * w, 0.5 * w, 0.45 * h, 0.8 * h, Material::Glass, glass);
      part(-0.5 * l, 0.5 * l, -0.5 * w, 0.5 * w, 0.8 * h, h, Material::Paint, body);
      break;
    case ObjectClass::Cyclist: {
      const double d = 0.68;
      for (double x : {0.5 * l - 0.5 * d, -0.5 * l + 0.5 * d}) part(x - 0.5 * d, x + 0.5 * d, -0.03, 0.03, 0.0, d, Material::Tire, tire);
      part(-0.3 * l, 0.3 * l, -0.04, 0.04, 0.45, 0.85, Material::Metal, {150, 150, 160});  // frame
      part(-0.18, 0.12, -0.17, 0.17, 0.75, 1.1, Material::Fabric, {40, 40, 50});         // legs / hips
      part(-0.12, 0.22, -0.5 * w + 0.02, 0.5 * w - 0.02, 1.1, h - 0.27, Material::Fabric, body);  // torso + arms
      part(0.02, 0.24, -0.1, 0.1, h - 0.27, h, Material::Skin, skin);                      // head
      break;
    }
    case ObjectClass::Pedestrian: {
      const double hip = 0.5 * h, sh = 0.82 * h;
      part(-0.1, 0.1, 0.02, 0.2, 0.0, hip, Material::Fabric, {45, 45, 60});
      part(-0.1, 0.1, -0.2, -0.02, 0.0, hip, Material::Fabric, {45, 45, 60});
      part(-0.5 * l + 0.05, 0.5 * l - 0.08, -0.5 * w, 0.5 * w, hip, sh, Material::Fabric, body);
      part(-0.1, 0.1, -0.09, 0.09, sh, h, Material::Skin, skin);
      break;
    }
    default:
      part(-0.5 * l, 0.5 * l, -0.5 * w, 0.5 * w, 0.0, h, Material::Metal, body);
  }
}

void World::spawn_actors(Rng& rng) {
  const auto& tr = cfg_.traffic;
  const auto& ag = cfg_.agents;
  std::int32_t next_id = 100;
  // Lane slots every 14 m (fits a bus plus gap), away from the lane ends.
  struct Slot {
    int lane;
    double s;
  };
  std::vector<Slot> slots;
  for (std::size_t li = 0; li < lanes_.size(); ++li) {
    const double len = lanes_[li].path.length();
    for (double s = 10.0; s < len - 12.0; s += 14.0) slots.push_back({static_cast<int>(li), s});
  }
  shuffle(slots, rng);
  // Focus: the intersection nearest the town centre (grid) or the merge node.
  int focus_node = 0;
  {
    double best = 1e18;
    for (std::size_t ni = 0; ni < nodes_.size(); ++ni) {
      if (nodes_[ni].edges.size() < 3) continue;
      const double d = nodes_[ni].p.squaredNorm();
      if (d < best) best = d, focus_node = static_cast<int>(ni);
    }
  }
  focus_ = nodes_[focus_node].p;
  std::vector<bool> used(slots.size(), false);
  auto slot_pos = [&](const Slot& sl) {
    Eigen::Vector2d p;
    double h;
    lanes_[sl.lane].path.sample(sl.s, p, h);
    return p;
  };
  auto place = [&](Actor a, const Slot& sl) {
    a.mode = ActorMode::Lane;
    a.piece = sl.lane;
    a.s_m = sl.s;
    const auto& lane = lanes_[sl.lane];
    a.v_desired_mps = lane.speed_mps * rng.uniform(0.85, 1.1);
    if (a.cls == ObjectClass::Cyclist) a.v_desired_mps = rng.uniform(4.0, 6.5);
    if (a.cls == ObjectClass::Truck || a.cls == ObjectClass::Bus) a.v_desired_mps *= 0.9;
    a.v_mps = 0.5 * a.v_desired_mps;
    a.id = next_id++;
    actors_.push_back(a);
    choose_next(actors_.back(), rng);
    update_pose(actors_.back());
  };
  // Connected vehicles: cars near the focus.
  int cav_placed = 0;
  for (std::size_t k = 0; k < slots.size() && cav_placed < ag.connected_vehicles; ++k) {
    if ((slot_pos(slots[k]) - focus_).norm() > ag.spawn_radius_m) continue;
    Actor a = make_actor(ObjectClass::Car, rng);
    a.connected = true;
    used[k] = true;
    place(a, slots[k]);
    connected_.push_back(static_cast<int>(actors_.size()) - 1);
    ++cav_placed;
  }
  if (cav_placed < ag.connected_vehicles)
    throw ConfigError("", "agents.connected_vehicles",
                      std::to_string(ag.connected_vehicles) + " connected vehicles do not fit: the roads within spawn_radius_m (" +
                          std::to_string(ag.spawn_radius_m) + " m) of the focus intersection hold " + std::to_string(cav_placed));
  const int free_slots = static_cast<int>(slots.size()) - cav_placed;
  if (tr.vehicles + tr.cyclists > free_slots)
    throw ConfigError("", "traffic.vehicles",
                      std::to_string(tr.vehicles) + " vehicles + " + std::to_string(tr.cyclists) +
                          " cyclists do not fit: the town's roads hold at most " + std::to_string(free_slots) +
                          " (besides the connected vehicles)");
  // Cyclists prefer the outermost lanes.
  auto outermost = [&](int li) {
    const auto& l = lanes_[li];
    const auto& e = edges_[l.edge];
    return l.index == (l.from_node == e.a ? e.lanes_fwd : e.lanes_bwd) - 1;
  };
  int cyc = 0;
  for (int pass = 0; pass < 2 && cyc < tr.cyclists; ++pass)
    for (std::size_t k = 0; k < slots.size() && cyc < tr.cyclists; ++k) {
      if (used[k] || (pass == 0 && !outermost(slots[k].lane))) continue;
      used[k] = true;
      place(make_actor(ObjectClass::Cyclist, rng), slots[k]);
      ++cyc;
    }
  double mix_sum = 0;
  for (double m : tr.class_mix) mix_sum += m;
  int veh = 0;
  for (std::size_t k = 0; k < slots.size() && veh < tr.vehicles; ++k) {
    if (used[k]) continue;
    used[k] = true;
    double u = rng.uniform() * mix_sum;
    ObjectClass cls = ObjectClass::Car;
    const ObjectClass order[4] = {ObjectClass::Car, ObjectClass::Van, ObjectClass::Truck, ObjectClass::Bus};
    for (int c = 0; c < 4; ++c) {
      if (u < tr.class_mix[c]) {
        cls = order[c];
        break;
      }
      u -= tr.class_mix[c];
    }
    place(make_actor(cls, rng), slots[k]);
    ++veh;
  }
  // Pedestrians on the sidewalk loops, ≥ 2 m apart.
  if (tr.pedestrians > 0) {
    std::vector<Slot> ped_slots;
    for (std::size_t wi = 0; wi < walks_.size(); ++wi)
      for (double s = 0.0; s < walks_[wi].length() - 1.0; s += 2.0) ped_slots.push_back({static_cast<int>(wi), s});
    if (tr.pedestrians > static_cast<int>(ped_slots.size()))
      throw ConfigError("", "traffic.pedestrians",
                        std::to_string(tr.pedestrians) + " pedestrians do not fit: the town's sidewalks hold at most " +
                            std::to_string(ped_slots.size()));
    shuffle(ped_slots, rng);
    for (int k = 0; k < tr.pedestrians; ++k) {
      Actor a = make_actor(ObjectClass::Pedestrian, rng);
      a.mode = ActorMode::Walk;
      a.piece = ped_slots[k].lane;
      a.s_m = ped_slots[k].s;
      a.v_desired_mps = rng.uniform(1.0, 1.6);
      a.v_mps = a.v_desired_mps;
      a.id = next_id++;
      actors_.push_back(a);
      update_pose(actors_.back());
    }
  }
  // Parked vehicles along parking strips (and beside highway warehouses).
  for (std::size_t ei = 0; ei < edges_.size(); ++ei) {
    const auto& e = edges_[ei];
    if (e.parking_m <= 0) continue;
    const Eigen::Vector2d pa = nodes_[e.a].p, pb = nodes_[e.b].p;
    const Eigen::Vector2d u = (pb - pa).normalized(), n = perp_left(u);
    const double len = (pb - pa).norm();
    const double p_fill = std::min(1.0, cfg_.town.parked_per_100m * 6.5 / 100.0);
    for (int side = 0; side < 2; ++side) {
      const double lat = side == 0 ? -(e.half_width_m() - 0.5 * e.parking_m) : (e.half_width_m() - 0.5 * e.parking_m);
      const double yaw = std::atan2(u.y(), u.x()) + (side == 0 ? 0.0 : 3.14159265358979);
      const double s_lo = nodes_[e.a].half_extent.maxCoeff() + 8.0, s_hi = len - nodes_[e.b].half_extent.maxCoeff() - 8.0;
      for (double s = s_lo; s + 6.5 <= s_hi; s += 6.5) {
        if (!rng.bernoulli(p_fill)) continue;
        Actor a = make_actor(rng.bernoulli(0.85) ? ObjectClass::Car : ObjectClass::Van, rng);
        if (a.size.x() > 6.0) a.size.x() = 6.0;
        a.mode = ActorMode::Parked;
        const Eigen::Vector2d p = pa + u * (s + 3.25) + n * (lat + rng.uniform(-0.15, 0.15));
        a.pos = {p.x(), p.y(), 0.0};
        a.yaw_rad = wrap_angle(yaw + rng.uniform(-0.04, 0.04));
        a.id = next_id++;
        actors_.push_back(a);
      }
    }
  }
  if (cfg_.town.layout == TownLayout::HighwayMerge) {
    // A few parked trucks and cars in front of the warehouses (north side).
    const double y = edges_[0].half_width_m() + 16.0;
    for (double x = -0.45 * cfg_.town.highway_length_m; x < 0.45 * cfg_.town.highway_length_m; x += rng.uniform(20, 60)) {
      Actor a = make_actor(rng.bernoulli(0.4) ? ObjectClass::Truck : ObjectClass::Car, rng);
      a.mode = ActorMode::Parked;
      a.pos = {x, y + rng.uniform(-2, 2), 0.0};
      a.yaw_rad = rng.uniform(-3.14, 3.14);
      a.id = next_id++;
      actors_.push_back(a);
    }
  }
  // RSUs at the intersections nearest the focus.
  if (ag.rsus > 0) {
    std::vector<std::pair<double, int>> cand;
    for (std::size_t ni = 0; ni < nodes_.size(); ++ni)
      if (nodes_[ni].edges.size() >= 3) cand.push_back({(nodes_[ni].p - focus_).norm(), static_cast<int>(ni)});
    std::sort(cand.begin(), cand.end());
    if (static_cast<int>(cand.size()) < ag.rsus)
      throw ConfigError("", "agents.rsus",
                        std::to_string(ag.rsus) + " RSUs need as many intersections; the town has " + std::to_string(cand.size()));
    for (int k = 0; k < ag.rsus; ++k) {
      const auto& n = nodes_[cand[k].second];
      Rsu r;
      r.id = -(k + 1);
      Eigen::Vector2d p;
      if (cfg_.town.layout == TownLayout::HighwayMerge) {
        p = n.p + Eigen::Vector2d(0, n.half_extent.y() + 3.0);
      } else {
        // The corners not taken by traffic lights: (+, +) or (-, -), 0.45 m from both curbs.
        const double sx = rng.bernoulli(0.5) ? 1.0 : -1.0;
        p = n.p + Eigen::Vector2d(sx * (n.half_extent.x() + 0.45), sx * (n.half_extent.y() + 0.45));
      }
      const double hpole = ag.rsu_lidar.mount_height_m;
      r.sensor_pos = {p.x(), p.y(), hpole};
      const Eigen::Vector2d d = n.p - p;
      r.yaw_rad = std::atan2(d.y(), d.x());
      rsus_.push_back(r);
      static_prims_.push_back(BoxPrim::make({p.x(), p.y(), 0.5 * (hpole - 0.25)}, {0.3, 0.3, hpole - 0.25}, 0, Material::Metal,
                                            -1, 150, 150, 150));
    }
  }
}

}  // namespace v2x::sim
