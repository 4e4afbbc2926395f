#include "v2x/encoder/network.hpp"

#include "pillar_kernel.hpp"

#include <cmath>
#include <stdexcept>

namespace v2x::encoder {

namespace nn = torch::nn;

PillarBatch PillarBatch::to(const torch::Device& device) const {
  PillarBatch b = *this;
  b.features = features.to(device, /*non_blocking=*/true);
  b.index = index.to(device, true);
  return b;
}

PillarBatch make_pillar_batch(const std::vector<const Pillars*>& samples) {
  if (samples.empty()) throw std::invalid_argument("make_pillar_batch: no samples");
  const int H = samples[0]->grid_h, W = samples[0]->grid_w;
  std::int64_t M = 0;
  for (const Pillars* s : samples) {
    if (s->grid_h != H || s->grid_w != W)
      throw std::invalid_argument("make_pillar_batch: samples from different pillar grids");
    M += static_cast<std::int64_t>(s->num_points());
  }
  PillarBatch b;
  b.batch_size = static_cast<int>(samples.size());
  b.grid_h = H;
  b.grid_w = W;
  b.features = torch::empty({M, kPointFeatures}, torch::kFloat32);
  b.index = torch::empty({M}, torch::kInt64);
  float* f = b.features.data_ptr<float>();
  std::int64_t* idx = b.index.data_ptr<std::int64_t>();
  std::int64_t k = 0;
  for (std::size_t s = 0; s < samples.size(); ++s) {
    const Pillars& p = *samples[s];
    std::copy(p.features.begin(), p.features.end(), f + k * kPointFeatures);
    const std::int64_t base = static_cast<std::int64_t>(s) * H * W;
    for (std::int32_t c : p.point_cell) idx[k++] = base + c;
  }
  return b;
}

// ---- pillar feature net ------------------------------------------------------------------------------------
PillarFeatureNetImpl::PillarFeatureNetImpl(int in_features, int out_channels) {
  linear_ = register_module("linear", nn::Linear(nn::LinearOptions(in_features, out_channels).bias(false)));
  bn_ = register_module("bn", nn::BatchNorm1d(nn::BatchNorm1dOptions(out_channels).eps(1e-3).momentum(0.01)));
}

// CPU inference path of forward(): the same function (Linear, BatchNorm with running statistics, ReLU, max per
// pillar), fused by hand into one pass over the points: each pillar's points (contiguous in Pillarizer output)
// go through the BN-scaled linear layer in registers, their max is written once per pillar straight into the
// channels-first (B, C, Hp, Wp) canvas. Hand-written because at::scatter_reduce's CPU kernel is slow and scales
// badly with OpenMP threads, and a (M, 10) × (10, C) GEMM followed by a scatter pass was 11 ms for 75 k points on
// this 2-core machine (fused: 5.5 ms). One thread: splitting the pillar runs between two measured no faster
// (memory-bound). Test: Network.FastPillarFeatureNetMatchesTheTorchPath.
torch::Tensor PillarFeatureNetImpl::forward_cpu_inference(const PillarBatch& b) {
  const std::int64_t C = linear_->options.out_features();
  const std::int64_t hw = static_cast<std::int64_t>(b.grid_h) * b.grid_w;
  const std::int64_t cells = static_cast<std::int64_t>(b.batch_size) * hw;
  auto canvas = torch::zeros({b.batch_size, C, b.grid_h, b.grid_w}, torch::kFloat32);
  const std::int64_t M = b.features.size(0);
  if (M == 0) return canvas;
  const auto inv_std = torch::rsqrt(bn_->running_var.detach() + bn_->options.eps());
  const auto scale = (bn_->weight.detach() * inv_std).to(torch::kFloat32);
  const auto shift = (bn_->bias.detach() - bn_->running_mean.detach() * scale).to(torch::kFloat32).contiguous();
  const auto wt = (linear_->weight.detach().to(torch::kFloat32) * scale.unsqueeze(1)).t().contiguous();  // (F, C)
  const auto feat = b.features.to(torch::kFloat32).contiguous();
  const auto idx = b.index.to(torch::kInt64).contiguous();
  pillar_runs_max(feat.data_ptr<float>(), idx.data_ptr<std::int64_t>(), M, wt.data_ptr<float>(),
                  shift.data_ptr<float>(), C, hw, cells, canvas.data_ptr<float>());
  return canvas;
}

torch::Tensor PillarFeatureNetImpl::forward(const PillarBatch& b) {
  if (fast_inference_ && !is_training() && b.features.device().is_cpu() && !torch::GradMode::is_enabled())
    return forward_cpu_inference(b);
  const std::int64_t C = linear_->options.out_features();
  const std::int64_t cells = static_cast<std::int64_t>(b.batch_size) * b.grid_h * b.grid_w;
  auto canvas = torch::zeros({C, cells}, b.features.options());
  if (b.features.size(0) > 0) {
    // Channels-first (C, M) throughout: W·Fᵀ is a well-shaped GEMM (at::linear with K = 10 is several times
    // slower on the CPU), BatchNorm1d takes (1, C, M), and the scatter writes a (C, cells) canvas that is
    // already the (B=1, C, Hp, Wp) pseudo-image at inference (no transpose).
    auto x = torch::mm(linear_->weight, b.features.t());  // (C, M)
    // BN in training mode needs > 1 value per channel; a single point only happens with degenerate input.
    if (x.size(1) > 1 || !is_training()) x = bn_->forward(x.unsqueeze(0)).squeeze(0);
    x = torch::relu(x);  // ≥ 0, so a max into a zero canvas is the max over each pillar's points
    canvas = canvas.scatter_reduce(1, b.index.unsqueeze(0).expand({C, -1}), x, "amax", /*include_self=*/true);
  }
  return canvas.view({C, b.batch_size, b.grid_h, b.grid_w}).permute({1, 0, 2, 3}).contiguous();
}

// ---- backbone ----------------------------------------------------------------------------------------------
namespace {
nn::Sequential conv_bn_relu(nn::Sequential seq, int cin, int cout, int stride, int kernel = 3) {
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(cin, cout, kernel).stride(stride).padding(kernel / 2).bias(false)));
  seq->push_back(nn::BatchNorm2d(nn::BatchNorm2dOptions(cout).eps(1e-3).momentum(0.01)));
  seq->push_back(nn::ReLU());
  return seq;
}
}  // namespace

BackboneImpl::BackboneImpl(int in_channels, const NetConfig& cfg) {
  const std::size_t n = cfg.block_channels.size();
  if (n == 0 || cfg.block_layers.size() != n || cfg.block_strides.size() != n)
    throw std::invalid_argument("Backbone: block_channels, block_layers and block_strides need the same length");
  int cin = in_channels;
  int cumulative = 1;
  for (std::size_t i = 0; i < n; ++i) {
    nn::Sequential block;
    const int c = cfg.block_channels[i];
    conv_bn_relu(block, cin, c, cfg.block_strides[i]);
    for (int l = 1; l < cfg.block_layers[i]; ++l) conv_bn_relu(block, c, c, 1);
    blocks_.push_back(register_module("block" + std::to_string(i), block));
    cumulative *= cfg.block_strides[i];
    const int up = cumulative / cfg.block_strides[0];  // to the first block's resolution
    nn::Sequential upm;
    if (up == 1)
      upm->push_back(nn::Conv2d(nn::Conv2dOptions(c, cfg.up_channels, 1).bias(false)));
    else
      upm->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(c, cfg.up_channels, up).stride(up).bias(false)));
    upm->push_back(nn::BatchNorm2d(nn::BatchNorm2dOptions(cfg.up_channels).eps(1e-3).momentum(0.01)));
    upm->push_back(nn::ReLU());
    ups_.push_back(register_module("up" + std::to_string(i), upm));
    cin = c;
  }
  fuse_ = register_module("fuse", conv_bn_relu(nn::Sequential(), static_cast<int>(n) * cfg.up_channels,
                                               cfg.out_channels, 1, cfg.fuse_kernel));
}

namespace {
torch::Tensor bn_scale(const nn::BatchNorm2dImpl& bn) {
  return bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
}
torch::Tensor folded_bias(const torch::Tensor& conv_bias, const nn::BatchNorm2dImpl& bn) {
  const auto b0 = conv_bias.defined() ? conv_bias : torch::zeros_like(bn.running_mean);
  return (b0 - bn.running_mean) * bn_scale(bn) + bn.bias;
}
// A Sequential of Conv2d / ConvTranspose2d / BatchNorm2d / ReLU with every (conv, BatchNorm2d) pair folded.
nn::Sequential fold_sequential(const nn::Sequential& seq) {
  torch::NoGradGuard ng;
  nn::Sequential out;
  const auto mods = seq->children();
  for (std::size_t i = 0; i < mods.size(); ++i) {
    const auto bn = i + 1 < mods.size() ? std::dynamic_pointer_cast<nn::BatchNorm2dImpl>(mods[i + 1]) : nullptr;
    if (const auto c = std::dynamic_pointer_cast<nn::Conv2dImpl>(mods[i]); c && bn) {
      const auto& co = c->options;
      nn::Conv2d f(nn::Conv2dOptions(co.in_channels(), co.out_channels(), co.kernel_size())
                       .stride(co.stride())
                       .padding(co.padding())
                       .dilation(co.dilation())
                       .groups(co.groups())
                       .bias(true));
      f->weight.copy_(c->weight * bn_scale(*bn).view({-1, 1, 1, 1}));  // (out, in, k, k)
      f->bias.copy_(folded_bias(c->bias, *bn));
      out->push_back(f);
      ++i;
    } else if (const auto t = std::dynamic_pointer_cast<nn::ConvTranspose2dImpl>(mods[i]); t && bn) {
      const auto& to = t->options;  // the backbone's upsampling: kernel = stride, no padding (as constructed above)
      nn::ConvTranspose2d f(nn::ConvTranspose2dOptions(to.in_channels(), to.out_channels(), to.kernel_size())
                                .stride(to.stride())
                                .output_padding(to.output_padding())
                                .dilation(to.dilation())
                                .groups(to.groups())
                                .bias(true));
      f->weight.copy_(t->weight * bn_scale(*bn).view({1, -1, 1, 1}));  // (in, out, k, k)
      f->bias.copy_(folded_bias(t->bias, *bn));
      out->push_back(f);
      ++i;
    } else if (const auto r = std::dynamic_pointer_cast<nn::ReLUImpl>(mods[i])) {
      out->push_back(nn::ReLU(nn::ReLUOptions(true)));
    } else {
      throw std::logic_error("fold_batchnorm: unexpected module " + mods[i]->name());
    }
  }
  return out;
}
}  // namespace

void BackboneImpl::fold_batchnorm() {
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    blocks_[i] = replace_module("block" + std::to_string(i), fold_sequential(blocks_[i]));
    ups_[i] = replace_module("up" + std::to_string(i), fold_sequential(ups_[i]));
  }
  fuse_ = replace_module("fuse", fold_sequential(fuse_));
}

torch::Tensor BackboneImpl::forward(torch::Tensor x) {
  std::vector<torch::Tensor> ups;
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    x = blocks_[i]->forward(x);
    ups.push_back(ups_[i]->forward(x));
  }
  return fuse_->forward(torch::cat(ups, 1));
}

// ---- head ----------------------------------------------------------------------------------------------------
DetectionHeadImpl::DetectionHeadImpl(int in_channels, int num_anchors) : anchors_(num_anchors) {
  cls_ = register_module("cls", nn::Conv2d(nn::Conv2dOptions(in_channels, num_anchors, 1)));
  box_ = register_module("box", nn::Conv2d(nn::Conv2dOptions(in_channels, num_anchors * 7, 1)));
  dir_ = register_module("dir", nn::Conv2d(nn::Conv2dOptions(in_channels, num_anchors * 2, 1)));
  // Prior probability 0.01 for the focal loss (RetinaNet), so training starts without a flood of positives.
  torch::NoGradGuard g;
  cls_->bias.fill_(-std::log((1.0 - 0.01) / 0.01));
  nn::init::normal_(cls_->weight, 0.0, 0.01);
  nn::init::normal_(box_->weight, 0.0, 0.001);
  box_->bias.zero_();
}

HeadOutput DetectionHeadImpl::forward(const torch::Tensor& f) {
  const auto B = f.size(0), H = f.size(2), W = f.size(3);
  const int A = anchors_;
  HeadOutput o;
  o.features = f;
  o.cls = cls_->forward(f).permute({0, 2, 3, 1}).contiguous();                                   // (B,H,W,A)
  o.box = box_->forward(f).view({B, A, 7, H, W}).permute({0, 3, 4, 1, 2}).contiguous();         // (B,H,W,A,7)
  o.dir = dir_->forward(f).view({B, A, 2, H, W}).permute({0, 3, 4, 1, 2}).contiguous();         // (B,H,W,A,2)
  return o;
}

// ---- whole net -------------------------------------------------------------------------------------------------
DetectorNetImpl::DetectorNetImpl(const DetectorConfig& cfg) {
  pfn_ = register_module("pfn", PillarFeatureNet(kPointFeatures, cfg.net.pfn_channels));
  backbone_ = register_module("backbone", Backbone(cfg.net.pfn_channels, cfg.net));
  head_ = register_module("head", DetectionHead(cfg.net.out_channels, cfg.anchors.per_cell()));
}

void DetectorNetImpl::fold_batchnorm_for_inference() {
  eval();
  backbone_->fold_batchnorm();
  eval();
}

HeadOutput DetectorNetImpl::forward(const PillarBatch& b) { return head_->forward(backbone_->forward(pfn_->forward(b))); }

std::int64_t DetectorNetImpl::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

double DetectorNetImpl::weights_checksum() const {
  torch::NoGradGuard ng;
  double sum = 0;
  for (const auto& p : parameters()) sum += p.detach().to(torch::kCPU, torch::kFloat64).abs().sum().item<double>();
  for (const auto& b : buffers())
    if (b.is_floating_point()) sum += b.detach().to(torch::kCPU, torch::kFloat64).abs().sum().item<double>();
  return sum;
}

// ---- losses --------------------------------------------------------------------------------------------------
TargetBatch TargetBatch::to(const torch::Device& device) const {
  return TargetBatch{labels.to(device, true), box.to(device, true), dir.to(device, true)};
}

TargetBatch make_target_batch(const std::vector<const detection::AssignmentTargets*>& samples, int H, int W, int A) {
  const std::int64_t B = static_cast<std::int64_t>(samples.size()), n = static_cast<std::int64_t>(H) * W * A;
  TargetBatch t;
  t.labels = torch::empty({B, H, W, A}, torch::kFloat32);
  t.box = torch::empty({B, H, W, A, 7}, torch::kFloat32);
  t.dir = torch::empty({B, H, W, A}, torch::kInt64);
  float* l = t.labels.data_ptr<float>();
  float* bx = t.box.data_ptr<float>();
  std::int64_t* d = t.dir.data_ptr<std::int64_t>();
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& s = *samples[b];
    if (static_cast<std::int64_t>(s.labels.size()) != n || static_cast<std::int64_t>(s.box_targets.size()) != 7 * n)
      throw std::invalid_argument("make_target_batch: targets for another anchor grid");
    for (std::int64_t i = 0; i < n; ++i) {
      l[b * n + i] = s.labels[i];
      d[b * n + i] = s.dir_targets[i] < 0 ? 0 : s.dir_targets[i];
    }
    std::copy(s.box_targets.begin(), s.box_targets.end(), bx + b * n * 7);
  }
  return t;
}

LossTerms detection_loss(const HeadOutput& out, const TargetBatch& t, const LossConfig& cfg) {
  const auto pos = (t.labels > 0.5).to(out.cls.dtype());   // (B,H,W,A)
  const auto valid = (t.labels > -0.5).to(out.cls.dtype());
  const auto num_pos_t = pos.sum();
  const auto norm = num_pos_t.clamp_min(1.0);

  // Focal loss.
  const auto& x = out.cls;
  const auto p = torch::sigmoid(x);
  const auto ce = torch::binary_cross_entropy_with_logits(x, pos, {}, {}, at::Reduction::None);
  const auto p_t = p * pos + (1 - p) * (1 - pos);
  const auto alpha_t = cfg.focal_alpha * pos + (1 - cfg.focal_alpha) * (1 - pos);
  const auto focal = ce * alpha_t * torch::pow(1 - p_t, cfg.focal_gamma);
  auto cls = (focal * valid).sum() / norm;

  // Smooth-L1 on residuals; yaw as sin(pred - target) = sin p cos t - cos p sin t.
  auto pb = out.box, tb = t.box;
  auto p6 = pb.select(-1, 6), t6 = tb.select(-1, 6);
  auto pb2 = torch::cat({pb.narrow(-1, 0, 6), (torch::sin(p6) * torch::cos(t6)).unsqueeze(-1)}, -1);
  auto tb2 = torch::cat({tb.narrow(-1, 0, 6), (torch::cos(p6) * torch::sin(t6)).unsqueeze(-1)}, -1);
  const double beta = cfg.smooth_l1_beta;
  auto diff = (pb2 - tb2).abs();
  auto sl1 = beta > 0 ? torch::where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta) : diff;
  auto box = (sl1.sum(-1) * pos).sum() / norm;

  // Direction bins.
  auto logp = torch::log_softmax(out.dir, -1);  // (B,H,W,A,2)
  auto nll = -logp.gather(-1, t.dir.clamp(0, 1).unsqueeze(-1)).squeeze(-1);
  auto dir = (nll * pos).sum() / norm;

  LossTerms l;
  l.cls = cls;
  l.box = box;
  l.dir = dir;
  l.total = cfg.cls_weight * cls + cfg.box_weight * box + cfg.dir_weight * dir;
  l.num_positive = num_pos_t;
  return l;
}

}  // namespace v2x::encoder
