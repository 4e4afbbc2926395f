#pragma once
// Ray casting against yaw-oriented boxes with a bounding-volume hierarchy.
//
// Hand-written rather than Embree/nanort/etc.: the simulator must build on the GPU machine, where only the
// C++ standard library, Eigen and LibTorch exist and nothing can be installed, and every scene primitive in our
// towns is a box (buildings, walls, curbs, tree parts, poles, vehicle body parts), for which a box-specific
// BVH is both smaller and faster than a general triangle BVH.
//
// Build: binned SAH (16 bins over centroid bounds, longest axis), leaves of ≤ 4 primitives, nodes flattened
// depth-first into 32-byte records (left child = next node). Traversal: slab test on the node AABBs with
// precomputed inverse direction, nearer child first, early exit on any-hit queries, a fixed-size stack.
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>

namespace v2x::sim {

// Surface materials: LiDAR reflectivity and camera colour family.
enum class Material : std::uint8_t {
  Asphalt = 0, LaneMarking, Concrete, Grass, Building, Glass, Wall, Foliage, Bark, Metal, Paint, Tire, Skin, Fabric,
  Count
};
// Diffuse LiDAR reflectivity in [0, 1] (intensity = reflectivity × |cos incidence|, then noise).
float material_reflectivity(Material m);

// A box rotated by yaw about +z. Single precision: ray casting is the hot loop.
struct BoxPrim {
  Eigen::Vector3f center{0, 0, 0};
  Eigen::Vector3f half{0, 0, 0};     // half extents along the box's own x (length), y (width), z
  float cos_yaw = 1.f, sin_yaw = 0.f;
  std::int32_t owner = -1;           // actor id whose GT box this part belongs to, -1 for static scenery
  Material material = Material::Building;
  std::uint8_t r = 128, g = 128, b = 128;  // camera albedo
  bool axis_aligned = true;                // yaw == 0 exactly: the slab test needs no rotation

  static BoxPrim make(const Eigen::Vector3d& center, const Eigen::Vector3d& size, double yaw_rad, Material m,
                      std::int32_t owner = -1, std::uint8_t r = 128, std::uint8_t g = 128, std::uint8_t b = 128);
  void bounds(Eigen::Vector3f& lo, Eigen::Vector3f& hi) const;
};

struct Ray {
  Eigen::Vector3f origin{0, 0, 0};
  Eigen::Vector3f dir{1, 0, 0};  // unit length
};

struct Hit {
  float t = std::numeric_limits<float>::infinity();  // metres along the ray
  std::int32_t prim = -1;                            // index into the BVH's primitive array
  Eigen::Vector3f normal{0, 0, 1};                   // unit, facing against the ray
  bool valid() const { return prim >= 0; }
};

// Slab test of a ray against one box primitive within (t_min, t_max); fills t and normal on a hit.
bool intersect_box(const BoxPrim& p, const Ray& ray, float t_min, float t_max, float& t_hit, Eigen::Vector3f& normal);

class Bvh {
 public:
  Bvh() = default;
  explicit Bvh(std::vector<BoxPrim> prims) { build(std::move(prims)); }
  void build(std::vector<BoxPrim> prims);

  // Nearest hit with t in (t_min, t_max). Primitives whose owner equals `ignore_owner` are skipped
  // (an agent's own vehicle body); pass a value no primitive has (e.g. INT32_MIN) to test everything.
  Hit intersect(const Ray& ray, float t_min, float t_max, std::int32_t ignore_owner = kNoOwner) const;
  // Whether anything blocks the segment (t_min, t_max) (shadow rays).
  bool occluded(const Ray& ray, float t_min, float t_max, std::int32_t ignore_owner = kNoOwner) const;

  const std::vector<BoxPrim>& prims() const { return prims_; }
  std::size_t node_count() const { return nodes_.size(); }
  bool empty() const { return prims_.empty(); }

  static constexpr std::int32_t kNoOwner = std::numeric_limits<std::int32_t>::min();

 private:
  struct StackEntry {
    std::uint32_t node;
    float t_enter;
  };
  struct Node {            // 32 bytes
    float lo[3], hi[3];
    std::uint32_t first;   // leaf: first primitive; inner: index of the right child (left = this + 1)
    std::uint32_t count;   // leaf: number of primitives (> 0); inner: 0
  };
  std::uint32_t build_recursive(std::vector<std::uint32_t>& idx, std::uint32_t begin, std::uint32_t end,
                                const std::vector<Eigen::Vector3f>& lo, const std::vector<Eigen::Vector3f>& hi,
                                const std::vector<Eigen::Vector3f>& centroid, int depth);
  template <bool kAnyHit>
  Hit traverse(const Ray& ray, float t_min, float t_max, std::int32_t ignore_owner) const;

  std::vector<BoxPrim> prims_;
  std::vector<Node> nodes_;
};

}  // namespace v2x::sim
