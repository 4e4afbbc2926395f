#pragma once
// The single-agent detector as the fusers (early / max / attn) and the fusion trainer use it.
//
// DetectorRuntime is the small surface the fusers need: run the whole detector on a cloud (early fusion) and
// re-run only its detection head on a fused BEV map (max / attn: F-Cooper and AttFuse re-use the single-agent
// head on the fused map; our head is frozen, so no retraining is needed for max fusion).
// NetDetector implements it over encoder::DetectorNet; perceive_batch runs several agents' clouds in ONE
// batched forward (the trainer does this on the GPU).
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "v2x/core/detection.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/point_cloud.hpp"
#include "v2x/core/sparse_features.hpp"
#include "v2x/detection/anchors.hpp"
#include "v2x/detection/decoder.hpp"
#include "v2x/encoder/config.hpp"
#include "v2x/encoder/lidar_detector.hpp"
#include "v2x/encoder/network.hpp"
#include "v2x/encoder/pillarizer.hpp"

namespace v2x::fusion {

// One agent's single-agent perception (runtime steps 2–3).
struct AgentPerception {
  FeatureMap map;                       // (C, H, W) float32 + confidence (H, W) = max over anchors of sigmoid(cls)
  DetectionList local;                  // decode.score_threshold, NMS, max_detections
  std::vector<SparseAnchor> proposals;  // score > proposal_score_min, NMS, ≤ num_proposals; feature (C,)
                                        // bilinearly sampled at the box centre (as encoder::LidarDetector)
};

class DetectorRuntime {
 public:
  virtual ~DetectorRuntime() = default;
  virtual const BevGrid& feature_grid() const = 0;
  virtual int channels() const = 0;
  // Whole detector on a cloud in the agent's LiDAR frame.
  virtual AgentPerception perceive(const PointCloud& cloud, AgentId agent, TimestampNs stamp_ns) = 0;
  // Detection head + decoding + NMS on a map (1, C, H, W) float32 on feature_grid(), with `decode`.
  virtual DetectionList detect_map(const torch::Tensor& map, const detection::DecodeConfig& decode, AgentId agent,
                                   TimestampNs stamp_ns) = 0;
};

class NetDetector final : public DetectorRuntime {
 public:
  // net must have been built from cfg (weights loaded by the caller); it is switched to eval mode and its
  // BatchNorm is folded for inference (DetectorNet::fold_batchnorm_for_inference), so the caller's module cannot be
  // trained afterwards.
  NetDetector(const encoder::DetectorConfig& cfg, encoder::DetectorNet net, torch::Device device = torch::kCPU);
  // Builds the net from cfg and loads `weights_file` (torch::save of the DetectorNet module); throws
  // std::runtime_error naming the file when it cannot be read or does not fit cfg.
  static std::shared_ptr<NetDetector> load(const encoder::DetectorConfig& cfg, const std::string& weights_file,
                                           torch::Device device = torch::kCPU);
  // From a detector model folder (encoder's manifest.json + weights, as LidarDetector reads it), with the
  // manifest's own DetectorConfig.
  static std::shared_ptr<NetDetector> from_model(const std::string& model_dir, torch::Device device = torch::kCPU);

  const BevGrid& feature_grid() const override { return grid_; }
  int channels() const override { return cfg_.net.out_channels; }
  AgentPerception perceive(const PointCloud& cloud, AgentId agent, TimestampNs stamp_ns) override;
  DetectionList detect_map(const torch::Tensor& map, const detection::DecodeConfig& decode, AgentId agent,
                           TimestampNs stamp_ns) override;

  // All clouds in one batched forward (no grad); results on the CPU, in input order.
  std::vector<AgentPerception> perceive_batch(const std::vector<const PointCloud*>& clouds,
                                              const std::vector<AgentId>& agents,
                                              const std::vector<TimestampNs>& stamps);
  // The head's raw outputs → perception of one sample (CPU tensors of one batch element).
  AgentPerception decode_sample(const encoder::HeadOutput& out, int b, AgentId agent, TimestampNs stamp_ns) const;
  // The frozen detection head (shared with the net).
  encoder::HeadOutput run_head(const torch::Tensor& features);

  const encoder::DetectorConfig& config() const { return cfg_; }
  encoder::DetectorNet& net() { return net_; }
  torch::Device device() const { return device_; }
  const detection::AnchorGrid& anchors() const { return anchors_; }

 private:
  encoder::DetectorConfig cfg_;
  encoder::DetectorNet net_;
  std::shared_ptr<encoder::DetectionHeadImpl> head_;
  torch::Device device_;
  encoder::Pillarizer pillarizer_;
  detection::AnchorGrid anchors_;
  BevGrid grid_;
};

// Feature vector (C,) of the (C, H, W) map at cell (ix, iy) (zeros outside).
std::vector<float> feature_at(const FeatureMap& map, int ix, int iy);

// encoder::LidarDetector's proposals as fusion queries / message anchors (box, score, feature).
std::vector<SparseAnchor> to_sparse_anchors(const std::vector<encoder::QueryProposal>& proposals);

}  // namespace v2x::fusion
