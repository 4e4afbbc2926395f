// Traffic: kinematic lane following with the Intelligent Driver Model, intersection reservations
// (conflicting movements never share an intersection; "don't block the box"), yielding of the on-ramp,
// pedestrians walking the sidewalk loops. Deterministic: actors are processed in index order, accelerations
// are computed from a snapshot, and every random choice uses the world's own Rng in that order.
#include <algorithm>
#include <cmath>
#include <limits>

#include "v2x/sim/world.hpp"

namespace v2x::sim {
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
bool is_vehicle_mode(ActorMode m) { return m == ActorMode::Lane || m == ActorMode::Movement; }
}  // namespace

void World::step(double dt_s) {
  const int n = std::max(1, static_cast<int>(std::ceil(dt_s / 0.05 - 1e-9)));
  for (int k = 0; k < n; ++k) substep(dt_s / n);
  time_s_ += dt_s;
  rebuild_dynamic();
}

void World::rebuild_dynamic() {
  std::vector<BoxPrim> prims;
  prims.reserve(actors_.size() * 6);
  for (const auto& a : actors_)
    if (a.mode != ActorMode::Parked) actor_prims(a, prims);
  std::vector<BoxPrim> all = static_bvh_.prims();
  all.insert(all.end(), prims.begin(), prims.end());
  dynamic_bvh_.build(std::move(prims));
  scene_bvh_.build(std::move(all));
}

void World::update_pose(Actor& a) const {
  Eigen::Vector2d p;
  double h = 0;
  switch (a.mode) {
    case ActorMode::Lane:
      lanes_[a.piece].path.sample(a.s_m, p, h);
      a.pos = {p.x(), p.y(), 0.0};
      a.yaw_rad = h;
      break;
    case ActorMode::Movement:
      movements_[a.piece].path.sample(a.s_m, p, h);
      a.pos = {p.x(), p.y(), 0.0};
      a.yaw_rad = h;
      break;
    case ActorMode::Walk: {
      const auto& loop = walks_[a.piece];
      a.s_m = std::fmod(a.s_m, loop.length());
      if (a.s_m < 0) a.s_m += loop.length();
      loop.sample(a.s_m, p, h);
      a.pos = {p.x(), p.y(), 0.15};  // on the sidewalk
      a.yaw_rad = h;
      break;
    }
    case ActorMode::Parked:
      break;
  }
}

void World::choose_next(Actor& a, Rng& rng) const {
  a.next_movement = -1;
  if (a.mode != ActorMode::Lane) return;
  const auto& opts = lanes_[a.piece].movements;
  if (opts.empty()) return;
  if (a.connected && (nodes_[lanes_[a.piece].to_node].p - focus_).norm() > 0.5 * cfg_.agents.roam_radius_m) {
    // Connected vehicles stay around the focus: take the exit whose far end is nearest to it.
    double best = kInf;
    for (int m : opts) {
      const double d = (nodes_[lanes_[movements_[m].out_lane].to_node].p - focus_).norm();
      if (d < best) best = d, a.next_movement = m;
    }
    return;
  }
  a.next_movement = opts[static_cast<std::size_t>(rng.next_u64() % opts.size())];
}

// Bumper-to-bumper distance to whatever the actor must not hit next along its route (vehicle ahead,
// stop line of an intersection it has no reservation for, end of a dead-end lane); leader speed in leader_v.
double World::leader_gap(std::size_t i, double& leader_v) const {
  const Actor& a = actors_[i];
  leader_v = 0;
  double best = kInf;
  if (a.mode == ActorMode::Walk) {
    const double len = walks_[a.piece].length();
    for (std::size_t j = 0; j < actors_.size(); ++j) {
      const Actor& b = actors_[j];
      if (j == i || b.mode != ActorMode::Walk || b.piece != a.piece) continue;
      double d = b.s_m - a.s_m;
      if (d < 0) d += len;
      if (d == 0 && j < i) continue;
      const double g = d - 0.5 * (a.size.x() + b.size.x());
      if (g < best) best = g, leader_v = b.v_mps;
    }
    return best;
  }
  struct Piece {
    ActorMode mode;
    int idx;
    double offset;  // route distance from the actor's centre to the piece's start
  };
  Piece route[3];
  int np = 0;
  route[np++] = {a.mode, a.piece, -a.s_m};
  if (a.mode == ActorMode::Lane) {
    const auto& lane = lanes_[a.piece];
    const double len = lane.path.length();
    if (a.next_movement >= 0 && a.reserved == a.next_movement) {
      const auto& m = movements_[a.next_movement];
      route[np++] = {ActorMode::Movement, a.next_movement, len - a.s_m};
      route[np++] = {ActorMode::Lane, m.out_lane, len - a.s_m + m.path.length()};
    } else {
      // Stop line 3.5 m before the intersection (behind the crossing); dead ends: the lane end.
      const double front = a.s_m + 0.5 * a.size.x();
      double stop = lane.movements.empty() ? len - 0.3 : len - 3.5;
      if (front > stop + 0.2) stop = len - 0.3;
      best = stop - front;
    }
  } else {
    const auto& m = movements_[a.piece];
    route[np++] = {ActorMode::Lane, m.out_lane, m.path.length() - a.s_m};
  }
  for (std::size_t j = 0; j < actors_.size(); ++j) {
    if (j == i) continue;
    const Actor& b = actors_[j];
    if (!is_vehicle_mode(b.mode)) continue;
    if (a.mode == ActorMode::Lane && b.mode == ActorMode::Movement && movements_[b.piece].in_lane == a.piece &&
        !(a.reserved == a.next_movement && b.piece == a.next_movement)) {
      // A vehicle that left my lane into another movement: its rear may still be in my lane.
      const double g = lanes_[a.piece].path.length() - a.s_m + b.s_m - 0.5 * (a.size.x() + b.size.x());
      if (g < best) best = g, leader_v = b.v_mps;
    }
    for (int k = 0; k < np; ++k) {
      if (b.mode != route[k].mode || b.piece != route[k].idx) continue;
      const double d = route[k].offset + b.s_m;
      if (d < 0 || (d == 0 && j < i)) continue;
      const double g = d - 0.5 * (a.size.x() + b.size.x());
      if (g < best) best = g, leader_v = b.v_mps;
    }
  }
  return best;
}

bool World::can_enter(std::size_t i, int mi) const {
  const Actor& a = actors_[i];
  const Movement& mv = movements_[mi];
  for (std::size_t j = 0; j < actors_.size(); ++j) {
    if (j == i) continue;
    const int r = actors_[j].reserved;
    if (r >= 0 && std::find(mv.conflicts.begin(), mv.conflicts.end(), r) != mv.conflicts.end()) return false;
  }
  // Room on the out lane for the whole vehicle (never block the intersection).
  const auto& out = lanes_[mv.out_lane];
  double room = out.path.length();
  for (std::size_t j = 0; j < actors_.size(); ++j) {
    const Actor& b = actors_[j];
    if (j == i) continue;
    if (b.mode == ActorMode::Lane && b.piece == mv.out_lane) room = std::min(room, b.s_m - 0.5 * b.size.x());
  }
  for (std::size_t j = 0; j < actors_.size(); ++j) {
    const Actor& b = actors_[j];
    if (j == i || b.reserved < 0 || movements_[b.reserved].out_lane != mv.out_lane) continue;
    if (b.mode == ActorMode::Lane && b.piece == mv.out_lane) continue;
    room -= b.size.x() + cfg_.traffic.min_gap_m;
  }
  if (room < a.size.x() + cfg_.traffic.min_gap_m + 1.5) return false;
  // The on-ramp yields to major-road traffic that would reach a conflicting movement within 4 s.
  if (mv.minor) {
    for (int c : mv.conflicts) {
      if (movements_[c].minor) continue;
      const int in = movements_[c].in_lane;
      const double len = lanes_[in].path.length();
      for (const Actor& b : actors_) {
        if (b.mode != ActorMode::Lane || b.piece != in) continue;
        const double d = len - b.s_m;
        if (d < 90.0 && d / std::max(b.v_mps, 1.0) < 4.0) return false;
      }
    }
  }
  return true;
}

void World::substep(double dt) {
  const auto& tr = cfg_.traffic;
  const std::size_t n = actors_.size();
  // 1. Intersection reservations, in actor order; only the first vehicle of a lane may ask.
  for (std::size_t i = 0; i < n; ++i) {
    Actor& a = actors_[i];
    if (a.mode != ActorMode::Lane || a.next_movement < 0 || a.reserved >= 0) continue;
    const double len = lanes_[a.piece].path.length();
    const double dist = len - (a.s_m + 0.5 * a.size.x());
    if (dist > std::max(25.0, a.v_mps * a.v_mps / (2 * tr.comfort_decel_mps2) + 12.0)) continue;
    bool first = true;
    for (std::size_t j = 0; j < n && first; ++j)
      first = !(j != i && actors_[j].mode == ActorMode::Lane && actors_[j].piece == a.piece && actors_[j].s_m > a.s_m);
    if (first && can_enter(i, a.next_movement)) a.reserved = a.next_movement;
  }
  // 2. Accelerations from the current snapshot.
  std::vector<double> new_v(n, 0.0), max_ds(n, kInf);
  for (std::size_t i = 0; i < n; ++i) {
    const Actor& a = actors_[i];
    if (a.mode == ActorMode::Parked) continue;
    double vl = 0;
    const double gap = leader_gap(i, vl);
    max_ds[i] = std::max(0.0, gap - (a.mode == ActorMode::Walk ? 0.2 : 0.5));
    if (a.mode == ActorMode::Walk) {
      double v = a.v_desired_mps;
      if (gap < 1.5) v = std::min(v, std::max(0.0, vl * (gap - 0.3) / 1.2));
      new_v[i] = v;
      continue;
    }
    double v0 = a.v_desired_mps;
    if (a.mode == ActorMode::Lane && a.next_movement >= 0) {
      const double d = lanes_[a.piece].path.length() - a.s_m;
      const double vm = movements_[a.next_movement].speed_mps;
      v0 = std::min(v0, std::sqrt(vm * vm + 2 * tr.comfort_decel_mps2 * std::max(0.0, d - 2.0)));
    } else if (a.mode == ActorMode::Movement) {
      v0 = std::min(v0, movements_[a.piece].speed_mps);
    }
    v0 = std::max(v0, 0.5);
    const double amax = tr.max_accel_mps2, b = tr.comfort_decel_mps2;
    double acc = amax * (1 - std::pow(a.v_mps / v0, 4));
    if (std::isfinite(gap)) {
      const double s_star = tr.min_gap_m + std::max(0.0, a.v_mps * tr.time_headway_s +
                                                             a.v_mps * (a.v_mps - vl) / (2 * std::sqrt(amax * b)));
      const double g = std::max(gap, 0.05);
      acc -= amax * (s_star / g) * (s_star / g);
    }
    acc = std::max(acc, -9.0);
    new_v[i] = std::max(0.0, a.v_mps + acc * dt);
  }
  // 3. Integrate (never further than the snapshot gap allows) and move across pieces.
  for (std::size_t i = 0; i < n; ++i) {
    Actor& a = actors_[i];
    if (a.mode == ActorMode::Parked) continue;
    double ds = new_v[i] * dt;
    if (ds > max_ds[i]) ds = max_ds[i];
    a.v_mps = ds / dt;
    a.s_m += ds;
    if (a.mode == ActorMode::Lane) {
      const auto& lane = lanes_[a.piece];
      const double len = lane.path.length();
      if (a.reserved >= 0 && movements_[a.reserved].out_lane == a.piece && a.s_m - 0.5 * a.size.x() > 1.0)
        a.reserved = -1;  // rear has cleared the intersection
      if (a.s_m > len && a.next_movement >= 0 && a.reserved == a.next_movement) {
        a.s_m -= len;
        a.mode = ActorMode::Movement;
        a.piece = a.next_movement;
      } else if (lane.movements.empty() && a.s_m + 0.5 * a.size.x() >= len - 1.0 && !source_lanes_.empty()) {
        // Leaves the map at a dead end; re-enters at a source lane when its start is free.
        const int src = source_lanes_[static_cast<std::size_t>(rng_.next_u64() % source_lanes_.size())];
        bool free = true;
        for (std::size_t j = 0; j < n && free; ++j) {
          const Actor& b = actors_[j];
          free = !(j != i && b.mode == ActorMode::Lane && b.piece == src && b.s_m - 0.5 * b.size.x() < a.size.x() + 8.0);
        }
        if (free) {
          a.piece = src;
          a.s_m = 0.5 * a.size.x() + 1.0;
          a.v_mps = std::min(a.v_mps, lanes_[src].speed_mps);
          a.reserved = -1;
          choose_next(a, rng_);
        }
      }
    }
    if (a.mode == ActorMode::Movement) {
      const auto& m = movements_[a.piece];
      if (a.s_m > m.path.length()) {
        a.s_m -= m.path.length();
        a.mode = ActorMode::Lane;
        a.piece = m.out_lane;
        choose_next(a, rng_);
      }
    }
    update_pose(a);
  }
}

}  // namespace v2x::sim
