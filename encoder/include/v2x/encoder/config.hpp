#pragma once
// Configuration of the learned LiDAR detector: pillarization, network shape, anchors, losses, post-processing.
// Everything that decides the shape of the weights (grid, channels, anchors) is "architecture" and is written
// into a model's manifest; a runtime whose DetectorConfig differs from a manifest refuses the weights.
#include <cstdint>
#include <string>
#include <vector>

#include "v2x/core/config.hpp"
#include "v2x/core/grid.hpp"
#include "v2x/detection/anchors.hpp"
#include "v2x/detection/box_coder.hpp"
#include "v2x/detection/decoder.hpp"
#include "v2x/detection/target_assigner.hpp"

namespace v2x::encoder {

// Pillarization (PointPillars). The pillar grid is [x_min, x_max) × [y_min, y_max) in pillar_m cells,
// points outside [z_min, z_max) are dropped. Metres, in the agent's LiDAR frame.
struct PillarConfig {
  double x_min_m = -51.2, x_max_m = 51.2;
  double y_min_m = -25.6, y_max_m = 25.6;
  double z_min_m = -3.0, z_max_m = 1.0;
  double pillar_m = 0.4;
  int max_points_per_pillar = 32;
  int max_pillars = 12000;

  BevGrid grid() const { return BevGrid{x_min_m, x_max_m, y_min_m, y_max_m, pillar_m}; }

  template <class V>
  void visit(V& v) {
    v("x_min_m", x_min_m, Range{-300, 300});
    v("x_max_m", x_max_m, Range{-300, 300});
    v("y_min_m", y_min_m, Range{-300, 300});
    v("y_max_m", y_max_m, Range{-300, 300});
    v("z_min_m", z_min_m, Range{-20, 20});
    v("z_max_m", z_max_m, Range{-20, 20});
    v("pillar_m", pillar_m, Range{0.05, 5});
    v("max_points_per_pillar", max_points_per_pillar, Range{1, 256});
    v("max_pillars", max_pillars, Range{1, 200000});
  }
};

// PointPillars-like network, slim. Pillar feature net: Linear(10→pfn_channels)+BN+ReLU+max.
// Backbone: len(block_channels) blocks; block i: a stride-block_strides[i] 3×3 conv then block_layers[i]-1
// 3×3 convs, each +BN+ReLU. Each block's output is upsampled (transposed conv) to the first block's resolution
// with up_channels channels, concatenated and reduced by a fuse_kernel² conv to out_channels: the FeatureMap.
// FeatureMap stride (in pillars) = block_strides[0].
struct NetConfig {
  // Sized for the ≤ 40 ms encoder + head target on 2 CPU cores (docs/results.md, issue 5): ~0.33 GMAC per frame
  // on the 256 × 128 pillar grid; session 1's {32, 64, 128} × {2, 3, 3} was ~0.65 GMAC and 33–52 ms.
  int pfn_channels = 32;
  std::vector<int> block_channels{24, 48, 96};
  std::vector<int> block_layers{2, 2, 2};
  std::vector<int> block_strides{2, 2, 2};
  int up_channels = 32;
  int fuse_kernel = 1;    // kernel of the conv that reduces the concatenation to out_channels (1 or 3)
  int out_channels = 64;  // C of the FeatureMap

  // Output stride of the backbone relative to the pillar grid.
  int output_stride() const { return block_strides.empty() ? 1 : block_strides.front(); }

  template <class V>
  void visit(V& v) {
    v("pfn_channels", pfn_channels, Range{4, 512});
    v("block_channels", block_channels, Range{4, 1024});
    v("block_layers", block_layers, Range{1, 16});
    v("block_strides", block_strides, Range{1, 4});
    v("up_channels", up_channels, Range{4, 512});
    v("fuse_kernel", fuse_kernel, Range{1, 3});
    v("out_channels", out_channels, Range{4, 512});
  }
};

// Anchors per feature-map cell: every size × every yaw (detection/anchors.hpp). The anchors' metric grid is
// not configured here: it is always the feature grid (pillar grid downsampled by the backbone's output stride).
// Defaults: a car-sized and a truck/bus-sized anchor (centre heights for a LiDAR ~1.9 m above the road, as in
// the simulator and OPV2V), each at 0° and 90°.
struct AnchorSet {
  std::vector<detection::AnchorSize> sizes{detection::AnchorSize{4.5, 1.9, 1.6, -1.1},
                                           detection::AnchorSize{8.5, 2.5, 3.2, -0.3}};
  std::vector<double> yaws_deg{0.0, 90.0};
  int per_cell() const { return static_cast<int>(sizes.size() * yaws_deg.size()); }

  template <class V>
  void visit(V& v) {
    v("sizes", sizes);
    v("yaws_deg", yaws_deg, Range{-360, 360});
  }
};

// Loss shape and weights (target assignment thresholds: DetectorConfig::assign).
struct LossConfig {
  double focal_alpha = 0.25;
  double focal_gamma = 2.0;
  double smooth_l1_beta = 1.0 / 9.0;
  double cls_weight = 1.0;
  double box_weight = 2.0;
  double dir_weight = 0.2;

  template <class V>
  void visit(V& v) {
    v("focal_alpha", focal_alpha, Range{0, 1});
    v("focal_gamma", focal_gamma, Range{0, 10});
    v("smooth_l1_beta", smooth_l1_beta, Range{0, 10});
    v("cls_weight", cls_weight, Range{0, 100});
    v("box_weight", box_weight, Range{0, 100});
    v("dir_weight", dir_weight, Range{0, 100});
  }
};

struct DetectorConfig {
  PillarConfig pillars;
  NetConfig net;
  AnchorSet anchors;
  detection::BoxCoderConfig coder;
  detection::AssignerConfig assign;
  LossConfig loss;
  detection::DecodeConfig decode;
  int num_proposals = 100;         // proposals kept as fusion queries (highest scores after NMS)
  double proposal_score_min = 0.1; // proposals may go below decode.score_threshold (fusion can confirm them)
  int num_threads = 2;             // at::set_num_threads for inference

  // The feature map's metric grid (pillar grid downsampled by the backbone's output stride).
  BevGrid feature_grid() const { return pillars.grid().downsampled(net.output_stride()); }
  // detection's anchor config on the feature grid.
  detection::AnchorConfig anchor_config() const;

  template <class V>
  void visit(V& v) {
    v("pillars", pillars);
    v("net", net);
    v("anchors", anchors);
    v("coder", coder);
    v("assign", assign);
    v("loss", loss);
    v("decode", decode);
    v("num_proposals", num_proposals, Range{0, 10000});
    v("proposal_score_min", proposal_score_min, Range{0, 1});
    v("num_threads", num_threads, Range{1, 256});
  }
  // Cross-field rules; throws ConfigError naming `file`.
  void check(const std::string& file) const;
};

}  // namespace v2x::encoder
