#pragma once
// Configuration of the camera branch: a small image CNN per camera whose features are lifted into the agent's
// BEV feature grid (the LiDAR FeatureMap's grid, DetectorConfig::feature_grid()) by sampling each BEV cell
// centre at a few fixed heights in every camera (docs/cameras.md explains the choice and the measurement).
// Everything here is "architecture" (it decides the weights' shapes or meaning) and goes into the manifest.
#include <array>
#include <string_view>
#include <vector>

#include "v2x/core/config.hpp"

namespace v2x::encoder {

// How BEV cells look into the images.
//  flat_ground:  one sample per cell, at the ground (sample_heights_m.front()) — inverse perspective mapping.
//  multi_height: one sample per cell and height in sample_heights_m; the per-height features are concatenated
//                (the network learns which height an object's appearance comes from).
enum class CameraLift { FlatGround = 0, MultiHeight };

}  // namespace v2x::encoder

template <>
struct v2x::EnumNames<v2x::encoder::CameraLift> {
  static constexpr std::array<std::string_view, 2> names{"flat_ground", "multi_height"};
};

namespace v2x::encoder {

struct CameraBranchConfig {
  // Every image is resized to input_width × input_height (intrinsics scaled accordingly) before the CNN.
  // 200×150 = OPV2V's 800×600 / 4: at 0.8 m BEV cells a pixel at 200 px width spans ~0.1 m at 10 m and ~0.6 m
  // at 50 m, so finer images would not add detail the BEV grid can hold, and the CNN stays < 40 ms for 4 cameras.
  int input_width = 200, input_height = 150;
  // Image CNN: conv blocks of 3×3 conv + BN + ReLU; block i has cnn_strides[i] and cnn_channels[i].
  // Feature stride = product of strides (default 4: 50×38 features for 200×150).
  std::vector<int> cnn_channels{16, 32, 32};
  std::vector<int> cnn_strides{2, 2, 1};
  // flat_ground: 33 ms for 4 cameras on 2 threads vs 48 ms for multi_height, at the same camera-only AP
  // (docs/results.md, "Camera branch"); multi_height stays available.
  CameraLift lift = CameraLift::FlatGround;
  // Sample heights, metres, in the agent's LiDAR frame (vehicles: LiDAR 1.9 m above the ground, so -1.9 = ground;
  // vehicle bodies span about -1.9 .. -0.4). flat_ground uses only the first.
  std::vector<double> sample_heights_m{-1.9, -1.2, -0.5};
  double min_depth_m = 0.5;     // a cell sample closer than this in front of the camera is invalid
  double max_range_m = 60.0;    // cells farther than this (BEV distance from the camera) are not sampled
  int max_cameras = 4;          // camera slots per agent (OPV2V: 4); extra cameras are dropped and counted
  int bev_layers = 2;           // 3×3 conv + BN + ReLU layers on the lifted BEV map

  int num_heights() const { return lift == CameraLift::FlatGround ? 1 : static_cast<int>(sample_heights_m.size()); }
  int feature_stride() const {
    int s = 1;
    for (int x : cnn_strides) s *= x;
    return s;
  }

  template <class V>
  void visit(V& v) {
    v("input_width", input_width, Range{16, 4096});
    v("input_height", input_height, Range{16, 4096});
    v("cnn_channels", cnn_channels, Range{4, 512});
    v("cnn_strides", cnn_strides, Range{1, 4});
    v("lift", lift);
    v("sample_heights_m", sample_heights_m, Range{-20, 20});
    v("min_depth_m", min_depth_m, Range{0.01, 50});
    v("max_range_m", max_range_m, Range{1, 500});
    v("max_cameras", max_cameras, Range{1, 16});
    v("bev_layers", bev_layers, Range{0, 8});
  }
};

}  // namespace v2x::encoder
