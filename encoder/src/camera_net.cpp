#include "v2x/encoder/camera_net.hpp"

#include <cstdio>
#include <cstring>

namespace v2x::encoder {

namespace F = torch::nn::functional;

CameraBatch CameraBatch::to(const torch::Device& device) const {
  CameraBatch b = *this;
  b.images = images.to(device);
  b.grid = grid.to(device);
  b.valid = valid.to(device);
  return b;
}

CameraInputBuilder::CameraInputBuilder(const CameraBranchConfig& cfg, const BevGrid& feature_grid)
    : cfg_(cfg), grid_(feature_grid), heights_(lift_heights(cfg)) {}

std::shared_ptr<const LiftGrid> CameraInputBuilder::lift_grid(const CameraCalib& c) const {
  // Key: intrinsics normalised by the image size (the grid does not depend on the resolution) + extrinsics.
  std::string key;
  char buf[64];
  auto put = [&](double v) {
    std::snprintf(buf, sizeof buf, "%.6g,", v);
    key += buf;
  };
  put(c.fx / c.width), put(c.fy / c.height), put(c.cx / c.width), put(c.cy / c.height);
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 4; ++k) put(c.T_lidar_camera.matrix()(r, k));
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  auto g = std::make_shared<const LiftGrid>(make_lift_grid(c, grid_, heights_, cfg_.min_depth_m, cfg_.max_range_m));
  std::lock_guard<std::mutex> lk(mu_);
  if (cache_.size() > 256) cache_.clear();  // bounded: calibrations are per rig, a few per fleet
  return cache_.emplace(key, g).first->second;
}

CameraBatch CameraInputBuilder::build(const std::vector<const std::vector<CameraFrame>*>& agents,
                                      CameraInputStats* stats) const {
  CameraBatch b;
  b.batch_size = static_cast<int>(agents.size());
  b.slots = cfg_.max_cameras;
  b.heights = static_cast<int>(heights_.size());
  b.height = grid_.height();
  b.width = grid_.width();
  const int N = b.batch_size * b.slots, Hi = cfg_.input_height, Wi = cfg_.input_width;
  const std::int64_t KH = static_cast<std::int64_t>(b.heights) * b.height;
  b.images = torch::zeros({N, 3, Hi, Wi});
  b.grid = torch::full({N, KH, b.width, 2}, -2.f);
  b.valid = torch::zeros({N, 1, KH, b.width});
  CameraInputStats st;
  float* img = b.images.data_ptr<float>();
  float* grd = b.grid.data_ptr<float>();
  float* val = b.valid.data_ptr<float>();
  const std::size_t img_n = static_cast<std::size_t>(3) * Hi * Wi, cells = static_cast<std::size_t>(KH) * b.width;
  for (int a = 0; a < b.batch_size; ++a) {
    int slot = 0;
    if (!agents[a]) continue;
    for (const CameraFrame& cam : *agents[a]) {
      switch (check_camera(cam)) {
        case CameraDrop::MissingImage: ++st.missing_image; continue;
        case CameraDrop::CorruptImage: ++st.corrupt_image; continue;
        case CameraDrop::MissingCalibration: ++st.missing_calibration; continue;
        case CameraDrop::None: break;
      }
      if (slot >= b.slots) {
        ++st.over_capacity;
        continue;
      }
      const std::size_t n = static_cast<std::size_t>(a) * b.slots + slot;
      resize_rgb_to_planar(cam.image, Wi, Hi, img + n * img_n);
      const auto g = lift_grid(cam.calib);
      std::memcpy(grd + n * cells * 2, g->xy.data(), cells * 2 * sizeof(float));
      std::memcpy(val + n * cells, g->valid.data(), cells * sizeof(float));
      ++slot;
      ++st.used;
    }
  }
  if (stats) *stats = st;
  return b;
}

ImageEncoderImpl::ImageEncoderImpl(const CameraBranchConfig& cfg) {
  net_ = register_module("net", torch::nn::Sequential());
  int in = 3;
  for (std::size_t i = 0; i < cfg.cnn_channels.size(); ++i) {
    const int out = cfg.cnn_channels[i];
    const int stride = i < cfg.cnn_strides.size() ? cfg.cnn_strides[i] : 1;
    net_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    net_->push_back(torch::nn::BatchNorm2d(out));
    net_->push_back(torch::nn::ReLU(true));
    in = out;
  }
  out_channels_ = in;
}

torch::Tensor ImageEncoderImpl::forward(torch::Tensor images) { return net_->forward(images); }

CameraBevImpl::CameraBevImpl(const CameraBranchConfig& cfg, int bev_channels) : heights_(cfg.num_heights()) {
  image_ = register_module("image", ImageEncoder(cfg));
  bev_ = register_module("bev", torch::nn::Sequential());
  const int in = image_->out_channels() * heights_;
  bev_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, bev_channels, 1).bias(false)));
  bev_->push_back(torch::nn::BatchNorm2d(bev_channels));
  bev_->push_back(torch::nn::ReLU(true));
  for (int i = 0; i < cfg.bev_layers; ++i) {
    bev_->push_back(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(bev_channels, bev_channels, 3).padding(1).bias(false)));
    bev_->push_back(torch::nn::BatchNorm2d(bev_channels));
    bev_->push_back(torch::nn::ReLU(true));
  }
}

torch::Tensor CameraBevImpl::forward(const CameraBatch& b) {
  TORCH_CHECK(b.heights == heights_, "camera batch has ", b.heights, " sample heights, the network ", heights_);
  const torch::Tensor f = image_->forward(b.images);  // (B·S, Ci, h, w)
  const auto Ci = f.size(1);
  torch::Tensor s = F::grid_sample(f, b.grid, F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
  s = s * b.valid;  // (B·S, Ci, K·H, W)
  const std::int64_t B = b.batch_size, S = b.slots, K = b.heights, H = b.height, W = b.width;
  const torch::Tensor sum = s.view({B, S, Ci, K, H, W}).sum(1);                 // (B, Ci, K, H, W)
  const torch::Tensor cnt = b.valid.view({B, S, 1, K, H, W}).sum(1).clamp_min(1.0);  // (B, 1, K, H, W)
  const torch::Tensor lifted = (sum / cnt).reshape({B, Ci * K, H, W});
  return bev_->forward(lifted);
}

CameraDetectorNetImpl::CameraDetectorNetImpl(const DetectorConfig& det, const CameraBranchConfig& cam) {
  bev_ = register_module("bev", CameraBev(cam, det.net.out_channels));
  head_ = register_module("head", DetectionHead(det.net.out_channels, det.anchors.per_cell()));
}

HeadOutput CameraDetectorNetImpl::forward(const CameraBatch& batch) { return head_->forward(bev_->forward(batch)); }

std::int64_t CameraDetectorNetImpl::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

ModalityFusionImpl::ModalityFusionImpl(int channels) {
  mix_ = register_module("mix", torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * channels, channels, 1)));
  torch::NoGradGuard ng;
  mix_->weight.zero_();
  for (int c = 0; c < channels; ++c) mix_->weight[c][c][0][0] = 1.f;
  mix_->bias.zero_();
}

torch::Tensor ModalityFusionImpl::forward(const torch::Tensor& lidar, const torch::Tensor& camera) {
  return mix_->forward(torch::cat({lidar, camera}, 1));
}

}  // namespace v2x::encoder
