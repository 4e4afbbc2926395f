#pragma once
// LiDAR point cloud, structure of arrays. Coordinates in metres in the sensor frame unless stated.
#include <cstddef>
#include <optional>
#include <vector>
#include "v2x/core/pose.hpp"

namespace v2x {

struct PointCloud {
  std::vector<float> x, y, z;
  std::vector<float> intensity;          // [0, 1] where the source allows, else the raw value
  std::optional<std::vector<double>> time_s;  // per-point time offset, seconds, when the source has it

  std::size_t size() const { return x.size(); }
  bool empty() const { return x.empty(); }
  void reserve(std::size_t n);
  void push_back(float px, float py, float pz, float pi);
  void clear();
  // Applies T_to_from to every point in place.
  void transform(const Pose& T_to_from);
  // Appends another cloud (its time_s is kept only if both have one).
  void append(const PointCloud& other);
  // Removes points with non-finite coordinates; returns how many were removed.
  std::size_t remove_non_finite();
};

}  // namespace v2x
