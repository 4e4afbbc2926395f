#pragma once
// The learned parts of a node (target v2x_runtime, built only with V2X_WITH_TORCH): the encoder's LidarDetector
// as the runtime's Perception, and fusion/'s fusers built from a NodeConfig. One RuntimeModels serves every
// agent of a replay (one detector in memory).
#include <cstdint>
#include <memory>
#include <string>

#include "v2x/apps/node_config.hpp"
#include "v2x/apps/node_runtime.hpp"
#include "v2x/encoder/lidar_detector.hpp"
#include "v2x/fusion/fuser.hpp"

namespace v2x::fusion {
class DetectorRuntime;
}

namespace v2x::apps {

// encoder::LidarDetector as a Perception. encode_ms = pillarize + network, detect_ms = decode + NMS (the
// detector's own timings). A detector failure on a frame yields a zero map and no detections, counted.
class LidarPerception final : public Perception {
 public:
  explicit LidarPerception(std::shared_ptr<encoder::LidarDetector> detector);
  LocalPerception perceive(const PointCloud& cloud, AgentId agent, TimestampNs stamp_ns) override;
  BevGrid feature_grid() const override { return grid_; }
  int channels() const override { return channels_; }
  std::int64_t failures() const { return failures_; }
  encoder::LidarDetector& detector() { return *det_; }

 private:
  std::shared_ptr<encoder::LidarDetector> det_;
  BevGrid grid_;
  int channels_ = 0;
  std::int64_t failures_ = 0;
};

class RuntimeModels {
 public:
  // Loads cfg.model_dir (manifest + weights; the manifest's configuration with cfg.num_threads). Fusers that
  // re-run the detector (early, max, attn) get a fusion::DetectorRuntime over the same weights, loaded once on
  // first use. Throws std::runtime_error naming the file on a missing / mismatching model.
  explicit RuntimeModels(const NodeConfig& cfg);
  ~RuntimeModels();
  std::shared_ptr<LidarPerception> perception() const { return perception_; }
  // A new fuser for cfg.fusion (fusion::make_fuser); throws std::runtime_error when its weights are missing.
  std::unique_ptr<fusion::Fuser> make_fuser();
  const encoder::ModelManifest& manifest() const { return perception_->detector().manifest(); }

 private:
  NodeConfig cfg_;
  std::shared_ptr<LidarPerception> perception_;
  std::shared_ptr<fusion::DetectorRuntime> fusion_detector_;
};

}  // namespace v2x::apps
