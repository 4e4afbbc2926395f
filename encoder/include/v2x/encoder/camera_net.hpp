#pragma once
// The camera branch as LibTorch modules (one definition for the trainer and the runtime):
//   images (B·S, 3, Hi, Wi) → ImageEncoder → (B·S, Ci, Hi/s, Wi/s)
//   → lift: grid_sample at every BEV cell × sample height (LiftGrid), masked, averaged over the cameras that see it
//   → (B, Ci·K, H, W) → 1×1 conv + bev_layers 3×3 convs → (B, C, H, W) on the LiDAR FeatureMap's grid.
// CameraDetectorNet adds the LiDAR detector's DetectionHead type (camera-only agents); ModalityFusion merges a
// LiDAR map and a camera map of the same shape into one (LiDAR+camera agents).
// B agents, S = max_cameras camera slots per agent (unused slots: zero image and zero mask), K sample heights.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "v2x/core/frame.hpp"
#include "v2x/encoder/camera_config.hpp"
#include "v2x/encoder/camera_lift.hpp"
#include "v2x/encoder/config.hpp"
#include "v2x/encoder/network.hpp"

namespace v2x::encoder {

struct CameraBatch {
  torch::Tensor images;  // (B·S, 3, Hi, Wi) float32 in [0, 1]
  torch::Tensor grid;    // (B·S, K·H, W, 2) float32 grid_sample coordinates
  torch::Tensor valid;   // (B·S, 1, K·H, W) float32 {0, 1}
  int batch_size = 0, slots = 0, heights = 0, height = 0, width = 0;
  CameraBatch to(const torch::Device& device) const;
};

// Builds CameraBatch from agents' cameras: checks each camera (check_camera; bad ones dropped and counted),
// resizes images to the input size, and takes the sampling grids from a cache keyed by calibration.
// Thread-safe.
class CameraInputBuilder {
 public:
  CameraInputBuilder(const CameraBranchConfig& cfg, const BevGrid& feature_grid);
  // agents[b] = the cameras of agent b. stats (optional) receives the per-call counts.
  CameraBatch build(const std::vector<const std::vector<CameraFrame>*>& agents, CameraInputStats* stats = nullptr) const;
  const CameraBranchConfig& config() const { return cfg_; }

 private:
  std::shared_ptr<const LiftGrid> lift_grid(const CameraCalib& calib) const;
  CameraBranchConfig cfg_;
  BevGrid grid_;
  std::vector<double> heights_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const LiftGrid>> cache_;
};

class ImageEncoderImpl : public torch::nn::Module {
 public:
  explicit ImageEncoderImpl(const CameraBranchConfig& cfg);
  torch::Tensor forward(torch::Tensor images);  // (N, 3, Hi, Wi) → (N, Ci, Hi/s, Wi/s)
  int out_channels() const { return out_channels_; }

 private:
  torch::nn::Sequential net_{nullptr};
  int out_channels_ = 0;
};
TORCH_MODULE(ImageEncoder);

class CameraBevImpl : public torch::nn::Module {
 public:
  CameraBevImpl(const CameraBranchConfig& cfg, int bev_channels);
  torch::Tensor forward(const CameraBatch& batch);  // → (B, C, H, W)

 private:
  ImageEncoder image_{nullptr};
  torch::nn::Sequential bev_{nullptr};
  int heights_;
};
TORCH_MODULE(CameraBev);

// Camera-only detector: CameraBev + a DetectionHead with the LiDAR detector's anchors; HeadOutput.features is the
// camera BEV map (B, C, H, W) with C = det.net.out_channels.
class CameraDetectorNetImpl : public torch::nn::Module {
 public:
  CameraDetectorNetImpl(const DetectorConfig& det, const CameraBranchConfig& cam);
  HeadOutput forward(const CameraBatch& batch);
  CameraBev& bev() { return bev_; }
  std::int64_t num_parameters() const;

 private:
  CameraBev bev_{nullptr};
  DetectionHead head_{nullptr};
};
TORCH_MODULE(CameraDetectorNet);

// LiDAR+camera: concat (B, 2C, H, W) → 1×1 conv → (B, C, H, W). Initialised to pass the LiDAR map through
// unchanged (weights [I | 0], bias 0), so an untrained fusion cannot make the LiDAR detector worse.
class ModalityFusionImpl : public torch::nn::Module {
 public:
  explicit ModalityFusionImpl(int channels);
  torch::Tensor forward(const torch::Tensor& lidar, const torch::Tensor& camera);

 private:
  torch::nn::Conv2d mix_{nullptr};
};
TORCH_MODULE(ModalityFusion);

}  // namespace v2x::encoder
