#pragma once
// A dense BEV feature map plus the per-cell detection confidence that selection uses.
#include <cstddef>
#include <vector>
#include "v2x/core/grid.hpp"
#include "v2x/core/types.hpp"

namespace v2x {

struct FeatureMap {
  int channels = 0, height = 0, width = 0;
  std::vector<float> data;        // (C, H, W) float32, row-major
  std::vector<float> confidence;  // (H, W) in [0, 1]; empty when no head ran
  BevGrid grid;                   // the metric grid of these H×W cells
  AgentId agent = 0;
  TimestampNs stamp_ns = 0;

  FeatureMap() = default;
  FeatureMap(int c, int h, int w) : channels(c), height(h), width(w), data(static_cast<std::size_t>(c) * h * w, 0.f) {}
  float& at(int c, int y, int x) { return data[(static_cast<std::size_t>(c) * height + y) * width + x]; }
  float at(int c, int y, int x) const { return data[(static_cast<std::size_t>(c) * height + y) * width + x]; }
  std::size_t cells() const { return static_cast<std::size_t>(height) * width; }
};

}  // namespace v2x
