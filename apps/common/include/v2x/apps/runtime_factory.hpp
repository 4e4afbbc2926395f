#pragma once
// The learned parts of a node (target v2x_runtime, built only with V2X_WITH_TORCH): the encoder's LidarDetector
// and (optionally) CameraEncoder as the runtime's Perception, and fusion/'s fusers built from a NodeConfig. One
// RuntimeModels serves every agent of a replay (one detector in memory).
#include <cstdint>
#include <memory>
#include <string>

#include "v2x/apps/node_config.hpp"
#include "v2x/apps/node_runtime.hpp"
#include "v2x/encoder/camera_encoder.hpp"
#include "v2x/encoder/lidar_detector.hpp"
#include "v2x/fusion/fuser.hpp"

namespace v2x::fusion {
class DetectorRuntime;
}

namespace v2x::apps {

// encoder::LidarDetector (+ encoder::CameraEncoder when given) as a Perception, per agent as `sensors` says:
//  LiDAR only     the LiDAR detector's map, detections and proposals;
//  cameras only   the camera branch's map (same shape), its camera-only detections and proposals;
//  both           the LiDAR map and the camera map merged by the camera model's trained ModalityFusion, and the
//                 LiDAR head re-run on the merged map (the map stays in the LiDAR feature space, so peers and
//                 fusers need no change). A camera model without fusion weights: LiDAR only (warned once).
//  auto           LiDAR when the cloud has points, cameras when the frame has images and a camera model is loaded.
// modality = the bits of the sensors whose output was used. encode_ms = pillarize + network (+ cameras + fusion
// + head), detect_ms = decode + NMS. A sensor failing on a frame is dropped for that frame and counted; with no
// sensor left: a zero map and no detections.
class LearnedPerception final : public Perception {
 public:
  LearnedPerception(std::shared_ptr<encoder::LidarDetector> lidar, std::shared_ptr<encoder::CameraEncoder> camera);
  LocalPerception perceive(const AgentFrame& frame, AgentId agent, SensorSet sensors) override;
  BevGrid feature_grid() const override { return grid_; }
  int channels() const override { return channels_; }
  std::int64_t failures() const { return failures_; }
  encoder::LidarDetector& detector() { return *det_; }
  encoder::CameraEncoder* camera() { return cam_.get(); }

 private:
  std::shared_ptr<encoder::LidarDetector> det_;
  std::shared_ptr<encoder::CameraEncoder> cam_;
  BevGrid grid_;
  int channels_ = 0;
  std::int64_t failures_ = 0;
};

class RuntimeModels {
 public:
  // Loads cfg.model_dir (manifest + weights; the manifest's configuration with cfg.num_threads) and, when set,
  // cfg.camera_model_dir (its detector block must match the LiDAR model's architecture). Fusers that
  // re-run the detector (early, max, attn) get a fusion::DetectorRuntime over the same weights, loaded once on
  // first use. Throws std::runtime_error naming the file on a missing / mismatching model.
  explicit RuntimeModels(const NodeConfig& cfg);
  ~RuntimeModels();
  std::shared_ptr<LearnedPerception> perception() const { return perception_; }
  // A new fuser for cfg.fusion (fusion::make_fuser); throws std::runtime_error when its weights are missing.
  std::unique_ptr<fusion::Fuser> make_fuser();
  const encoder::ModelManifest& manifest() const { return perception_->detector().manifest(); }

 private:
  NodeConfig cfg_;
  std::shared_ptr<LearnedPerception> perception_;
  std::shared_ptr<fusion::DetectorRuntime> fusion_detector_;
};

}  // namespace v2x::apps
