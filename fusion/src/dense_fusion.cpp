#include "v2x/fusion/dense_fusion.hpp"

#include <cmath>

namespace v2x::fusion {

DenseStack stack_dense(const FeatureMap& ego, const std::vector<AlignedPeer>& peers, WarpMode mode) {
  const std::int64_t A = 1 + static_cast<std::int64_t>(peers.size());
  const std::int64_t C = ego.channels, H = ego.height, W = ego.width;
  DenseStack s;
  s.maps = torch::zeros({A, C, H, W});
  s.mask = torch::zeros({A, H, W}, torch::kBool);
  std::copy(ego.data.begin(), ego.data.end(), s.maps.data_ptr<float>());
  s.mask[0].fill_(true);
  for (std::size_t p = 0; p < peers.size(); ++p) {
    const WarpedMap w = warp_cells_to_ego(peers[p].input->msg, peers[p].T_ego_peer, ego.grid, mode);
    if (w.channels != C || w.height != H || w.width != W) continue;  // align_peers' grid check makes this rare
    std::copy(w.data.begin(), w.data.end(), s.maps[p + 1].data_ptr<float>());
    bool* m = s.mask[p + 1].data_ptr<bool>();
    for (std::size_t i = 0; i < w.mask.size(); ++i) m[i] = w.mask[i] != 0;
  }
  return s;
}

torch::Tensor max_fuse(const DenseStack& s) {
  const auto neg = torch::full({}, -std::numeric_limits<float>::infinity());
  const auto masked = torch::where(s.mask.unsqueeze(1), s.maps, neg);  // (A, C, H, W)
  return std::get<0>(masked.max(0)).unsqueeze(0);                      // ego row is always valid → finite
}

AttnFusionImpl::AttnFusionImpl(int channels) : channels_(channels) {
  namespace nn = torch::nn;
  wq_ = register_module("wq", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1).bias(false)));
  wk_ = register_module("wk", nn::Conv2d(nn::Conv2dOptions(channels, channels, 1).bias(false)));
  torch::NoGradGuard ng;
  const auto eye = torch::eye(channels).view({channels, channels, 1, 1});
  wq_->weight.copy_(eye);
  wk_->weight.copy_(eye);
}

torch::Tensor AttnFusionImpl::forward(const torch::Tensor& maps_in, const torch::Tensor& mask_in) {
  const bool batched = maps_in.dim() == 5;
  const auto maps = batched ? maps_in : maps_in.unsqueeze(0);  // (B, A, C, H, W)
  const auto mask = batched ? mask_in : mask_in.unsqueeze(0);  // (B, A, H, W)
  const auto B = maps.size(0), A = maps.size(1), C = maps.size(2), H = maps.size(3), W = maps.size(4);
  const auto q = wq_->forward(maps.select(1, 0));                              // (B, C, H, W)
  const auto k = wk_->forward(maps.reshape({B * A, C, H, W})).view({B, A, C, H, W});
  auto att = (q.unsqueeze(1) * k).sum(2) / std::sqrt(static_cast<double>(C));  // (B, A, H, W)
  att = att.masked_fill(mask.logical_not(), -1e9);
  att = torch::softmax(att, 1);
  return (att.unsqueeze(2) * maps).sum(1);  // (B, C, H, W)
}

}  // namespace v2x::fusion
