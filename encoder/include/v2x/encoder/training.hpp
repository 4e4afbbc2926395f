#pragma once
// Training-side data handling shared by the trainer and the tests, without LibTorch: data augmentation applied
// consistently to points and boxes, and the encoding of one sample (pillars + anchor targets) with the same
// Pillarizer and detection::TargetAssigner the runtime uses.
#include <cstdint>
#include <string>
#include <vector>

#include "v2x/core/box.hpp"
#include "v2x/core/point_cloud.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/detection/target_assigner.hpp"
#include "v2x/encoder/config.hpp"
#include "v2x/encoder/pillarizer.hpp"

namespace v2x::encoder {

// One training sample: a cloud in an agent's LiDAR frame and the GT vehicle boxes in the same frame.
struct RawSample {
  PointCloud cloud;
  std::vector<Box3D> boxes;
  std::vector<int> box_points;  // LiDAR returns per box for this agent (-1 unknown)
  std::string frame;            // "<scenario>/<timestamp>/<agent>" for logs
};

struct AugmentConfig {
  bool enabled = true;
  double flip_y_prob = 0.5;                  // mirror y → -y (yaw → -yaw)
  double rotation_max_rad = 0.78539816;      // global rotation about z, uniform in [-max, max]
  double scale_min = 0.95, scale_max = 1.05; // global scaling of points, centres and sizes
  double translation_sigma_m = 0.2;          // global translation noise (x, y, z)

  template <class V>
  void visit(V& v) {
    v("enabled", enabled);
    v("flip_y_prob", flip_y_prob, Range{0, 1});
    v("rotation_max_rad", rotation_max_rad, Range{0, 3.1416});
    v("scale_min", scale_min, Range{0.5, 2});
    v("scale_max", scale_max, Range{0.5, 2});
    v("translation_sigma_m", translation_sigma_m, Range{0, 5});
  }
};

// Applies the same random flip, rotation, scaling and translation to the points and the boxes, in place.
void augment(RawSample& s, const AugmentConfig& cfg, Rng& rng);

// Drops points outside the pillar grid's x/y range expanded by margin_m (saves memory in sample pools).
void crop_to_range(PointCloud& cloud, const PillarConfig& cfg, double margin_m);

// A sample ready to collate: pillarized points and anchor targets.
struct EncodedSample {
  Pillars pillars;
  detection::AssignmentTargets targets;
  int num_gt = 0;
};

class SampleEncoder {
 public:
  explicit SampleEncoder(const DetectorConfig& cfg);
  // Thread-safe (const).
  EncodedSample encode(const RawSample& s) const;
  const Pillarizer& pillarizer() const { return pillarizer_; }
  const detection::TargetAssigner& assigner() const { return assigner_; }

 private:
  DetectorConfig cfg_;
  Pillarizer pillarizer_;
  detection::TargetAssigner assigner_;
};

}  // namespace v2x::encoder
