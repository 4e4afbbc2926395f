#pragma once
// The simulated world: a road network (nodes = intersections, edges = roads with lanes and sidewalks),
// static scenery as box primitives in a BVH, a ground-material raster (asphalt, markings, grass, paving) and
// the traffic actors (vehicles, cyclists, pedestrians, parked vehicles) with their kinematic state.
// Built deterministically from (SimConfig, seed); stepped by the Simulator.
#include <array>
#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "v2x/core/box.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/core/types.hpp"
#include "v2x/sim/bvh.hpp"
#include "v2x/sim/config.hpp"

namespace v2x::sim {

// A 2D path parameterised by arc length (metres).
struct Polyline {
  std::vector<Eigen::Vector2d> pts;
  std::vector<double> cum;  // cumulative length at each point
  double length() const { return cum.empty() ? 0.0 : cum.back(); }
  // Position and heading (rad) at arc length s, clamped to [0, length] (closed loops wrap when `loop`).
  void sample(double s, Eigen::Vector2d& p, double& heading_rad) const;
  void finish();  // computes cum from pts
  static Polyline line(const Eigen::Vector2d& a, const Eigen::Vector2d& b);
  // Cubic Bézier from p0 leaving along d0 to p3 arriving along d3, sampled every ~0.5 m.
  static Polyline bezier(const Eigen::Vector2d& p0, const Eigen::Vector2d& d0, const Eigen::Vector2d& p3,
                         const Eigen::Vector2d& d3);
};

struct RoadNode {
  Eigen::Vector2d p{0, 0};
  Eigen::Vector2d half_extent{0, 0};  // intersection area |x - p.x| <= hx, |y - p.y| <= hy (grid towns)
  std::vector<double> clearance_m;    // per incident edge (parallel to `edges`): lanes stop this far from p
  bool paved_square = true;  // grid intersections: the whole square is asphalt (merge nodes: only the paths)
  std::vector<int> edges;
};

struct RoadEdge {
  int a = 0, b = 0;          // node indices
  int lanes_fwd = 1;         // lanes driving a → b (on the right of the a→b direction)
  int lanes_bwd = 1;         // lanes driving b → a
  double lane_width_m = 3.5;
  double speed_mps = 13.9;
  double parking_m = 0.0;    // width of the parking strip on each side (0 = none)
  double sidewalk_m = 3.0;   // 0 = none
  bool median_barrier = false;
  bool minor = false;        // yields at its end node and feeds the outermost lane (on-ramp)
  double centre_offset_m() const { return 0.5 * (lanes_fwd - lanes_bwd) * lane_width_m; }  // left of a→b
  double median_gap_m() const { return median_barrier ? 0.6 : 0.0; }
  double half_width_m() const { return 0.5 * (lanes_fwd + lanes_bwd) * lane_width_m + parking_m + median_gap_m(); }
};

struct Lane {
  int edge = 0, from_node = 0, to_node = 0;
  int index = 0;             // 0 = next to the centre line
  Polyline path;             // from the from-node's boundary to the to-node's boundary
  double speed_mps = 13.9;
  std::vector<int> movements;  // movements leaving this lane at to_node
};

struct Movement {
  int node = 0, in_lane = 0, out_lane = 0;
  Polyline path;
  double speed_mps = 10.0;     // curvature-limited
  bool minor = false;          // yields to major-road traffic (highway on-ramp)
  std::vector<int> conflicts;  // movements (global indices) whose swept areas intersect this one's, itself included
};

enum class ActorMode : std::uint8_t { Parked = 0, Lane, Movement, Walk };

struct Actor {
  std::int32_t id = 0;
  ObjectClass cls = ObjectClass::Car;
  Eigen::Vector3d size{4.5, 1.8, 1.5};  // l, w, h (GT box extent)
  bool connected = false;                // a CAV carrying sensors
  int shape = 0;                         // geometry variant
  std::array<std::uint8_t, 3> color{128, 128, 128};
  // Pose of the GT box: bottom-centre position (x, y, ground z) and yaw.
  Eigen::Vector3d pos{0, 0, 0};
  double yaw_rad = 0;
  // Kinematics.
  ActorMode mode = ActorMode::Parked;
  int piece = -1;            // lane / movement / walk-loop index
  double s_m = 0, v_mps = 0, v_desired_mps = 0;
  int next_movement = -1;    // chosen exit at the end of the current lane (-1: dead end / not chosen)
  int reserved = -1;         // movement this actor holds a reservation on (until its rear clears the node)
  double reserved_release_s = 0;  // arc length on the out lane at which the reservation is released

  Box3D box() const;
};

// Ground-surface codes of the raster (0.2 m cells).
enum class Ground : std::uint8_t { Grass = 0, Asphalt, WhiteMark, YellowMark, Paving, Gravel };

struct GroundMap {
  double x0_m = 0, y0_m = 0, res_m = 0.2;
  int width = 0, height = 0;
  std::vector<std::uint8_t> cells;  // (H, W) Ground codes, row = y
  Ground at(double x, double y) const;
  void paint_rect(const Eigen::Vector2d& c, const Eigen::Vector2d& axis, double half_len, double half_wid, Ground g);
};

class World {
 public:
  World(const SimConfig& cfg, std::uint64_t seed);  // throws ConfigError when the town cannot hold the agents

  // Advances traffic by dt seconds (internally in sub-steps of ≤ 50 ms) and rebuilds the dynamic BVH.
  void step(double dt_s);

  const SimConfig& config() const { return cfg_; }
  const std::vector<RoadNode>& nodes() const { return nodes_; }
  const std::vector<RoadEdge>& edges() const { return edges_; }
  const std::vector<Lane>& lanes() const { return lanes_; }
  const std::vector<Movement>& movements() const { return movements_; }
  const std::vector<Polyline>& walk_loops() const { return walks_; }
  const std::vector<Actor>& actors() const { return actors_; }
  const GroundMap& ground() const { return ground_; }
  const Bvh& static_bvh() const { return static_bvh_; }    // scenery + parked vehicles
  const Bvh& dynamic_bvh() const { return dynamic_bvh_; }  // moving actors at the current time
  // Everything (scenery, parked and moving actors) in one tree, rebuilt every step: what the sensors trace
  // (one traversal per ray is cheaper than one per tree, and the rebuild costs a few ms per step).
  const Bvh& scene_bvh() const { return scene_bvh_; }
  // Indices into actors() of the connected vehicles, in agent order (the first is the ego).
  const std::vector<int>& connected() const { return connected_; }
  // RSU LiDAR poses (x, y, z of the sensor, yaw) at distinct intersections, in agent order.
  struct Rsu {
    std::int32_t id = -1;
    Eigen::Vector3d sensor_pos{0, 0, 5};
    double yaw_rad = 0;
  };
  const std::vector<Rsu>& rsus() const { return rsus_; }
  Eigen::Vector2d focus() const { return focus_; }
  // Town extent (min x, min y, max x, max y).
  std::array<double, 4> bounds() const { return bounds_; }
  double time_s() const { return time_s_; }

  // Box primitives of one actor at its current pose (owner = actor id).
  void actor_prims(const Actor& a, std::vector<BoxPrim>& out) const;

 private:
  void build_grid_roads(Rng& rng);
  void build_highway(Rng& rng);
  void build_lanes_and_movements();
  void build_scenery(Rng& rng);
  void paint_ground();
  void spawn_actors(Rng& rng);
  Actor make_actor(ObjectClass cls, Rng& rng);
  void add_tree(const Eigen::Vector2d& p, Rng& rng);
  void add_street_light(const Eigen::Vector2d& p, const Eigen::Vector2d& towards_road);
  void add_strip(const Eigen::Vector2d& a, const Eigen::Vector2d& b, double width, double z0, double z1, Material m,
                 std::array<std::uint8_t, 3> rgb, double max_seg_m = 20.0);
  void substep(double dt);
  void update_pose(Actor& a) const;
  void choose_next(Actor& a, Rng& rng) const;
  double leader_gap(std::size_t i, double& leader_v) const;
  bool can_enter(std::size_t i, int movement) const;
  void rebuild_dynamic();

  SimConfig cfg_;
  Rng rng_;
  std::vector<RoadNode> nodes_;
  std::vector<RoadEdge> edges_;
  std::vector<Lane> lanes_;
  std::vector<Movement> movements_;
  std::vector<Polyline> walks_;         // closed pedestrian loops (each walked in one direction)
  std::vector<std::array<int, 2>> plazas_;  // removed grid roads (pedestrian strips): node pairs
  std::vector<double> plaza_half_width_;
  std::vector<double> grid_xs_, grid_ys_;   // grid towns: node coordinates per column / row
  std::vector<BoxPrim> static_prims_;
  std::vector<Actor> actors_;
  std::vector<int> connected_;
  std::vector<Rsu> rsus_;
  std::vector<int> source_lanes_;       // lanes starting at a dead end (respawn points)
  GroundMap ground_;
  Bvh static_bvh_, dynamic_bvh_, scene_bvh_;
  Eigen::Vector2d focus_{0, 0};
  std::array<double, 4> bounds_{0, 0, 0, 0};
  double time_s_ = 0;
};

}  // namespace v2x::sim
