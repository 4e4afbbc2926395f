#include "v2x/fusion/training.hpp"

#include <algorithm>
#include <cmath>

#include "v2x/comm/quantize.hpp"
#include "v2x/selection/conformal_selector.hpp"

namespace v2x::fusion {

std::unique_ptr<selection::Selector> make_train_selector(const FusionTrainConfig& cfg) {
  selection::BudgetConfig b;
  b.budget_bytes = cfg.budget_bytes;
  b.quant = cfg.quant;
  b.max_anchors = cfg.max_anchors;
  if (cfg.selector == TrainSelector::Conformal)
    return std::make_unique<selection::ConformalTemporalSelector>(b, selection::ConformalConfig{});
  selection::TopKConfig k;
  k.k = cfg.top_k;
  return std::make_unique<selection::TopKSelector>(b, k);
}

PeerInput make_peer_input(const AgentObservation& s, selection::Selector& selector, Quantization quant,
                          const Pose& believed_pose, TimestampNs ego_stamp_ns, std::uint32_t sequence) {
  const selection::SelectionInput in(&s.perception.map, believed_pose,
                                     std::span<const SparseAnchor>(s.perception.proposals));
  const auto sel = selector.select(in);
  PeerInput p;
  p.msg = selection::make_sparse_features(s.perception.map, sel, believed_pose, in.anchors, sequence, quant);
  p.msg.sender = s.id;
  p.msg.stamp_ns = s.stamp_ns;
  if (p.msg.num_cells() > 0 && p.msg.channels > 0)
    comm::fake_quantize(p.msg.values, p.msg.num_cells(), static_cast<std::size_t>(p.msg.channels), quant);
  const int ad = p.msg.anchor_dim();
  if (ad > 0) {
    std::vector<float> af;
    for (const auto& a : p.msg.anchors) af.insert(af.end(), a.feature.begin(), a.feature.end());
    comm::fake_quantize(af, p.msg.anchors.size(), static_cast<std::size_t>(ad), quant);
    for (std::size_t i = 0; i < p.msg.anchors.size(); ++i)
      std::copy(af.begin() + i * ad, af.begin() + (i + 1) * ad, p.msg.anchors[i].feature.begin());
  }
  p.age_ns = ego_stamp_ns - s.stamp_ns;
  p.is_rsu = s.is_rsu;
  return p;
}

std::vector<Box3D> gt_in_agent_frame(const CoopFrame& frame, const Pose& T_world_lidar, const BevGrid& grid,
                                     int min_points) {
  const Pose T_lidar_world = T_world_lidar.inverse();
  std::vector<Box3D> out;
  for (const auto& o : frame.gt_world) {
    if (!is_vehicle(o.cls)) continue;
    if (o.lidar_points >= 0 && o.lidar_points < min_points) continue;
    const Box3D b = o.box.transformed(T_lidar_world);
    if (!grid.contains(b.center.x(), b.center.y())) continue;
    out.push_back(b);
  }
  return out;
}

namespace {
torch::Tensor boxes_tensor(const std::vector<Box3D>& bs) {
  auto t = torch::zeros({static_cast<std::int64_t>(bs.size()), 7});
  float* p = t.data_ptr<float>();
  for (std::size_t i = 0; i < bs.size(); ++i) {
    const auto& b = bs[i];
    const double v[7] = {b.center.x(), b.center.y(), b.center.z(), b.l_m, b.w_m, b.h_m, b.yaw_rad};
    for (int k = 0; k < 7; ++k) p[i * 7 + k] = static_cast<float>(v[k]);
  }
  return t;
}
// Row [x, y, z, l, w, h, yaw] of a (N, 7) float box tensor → Box3D.
Box3D box_from_row(const float* v) {
  Box3D b;
  b.center = {v[0], v[1], v[2]};
  b.l_m = v[3], b.w_m = v[4], b.h_m = v[5], b.yaw_rad = v[6];
  return b;
}
}  // namespace

FusionSample make_fusion_sample(const EgoInput& ego, const std::vector<PeerInput>& peers, const std::vector<Box3D>& gt,
                                const FusionConfig& cfg, const FusionTrainConfig& tcfg,
                                const detection::TargetAssigner* assigner) {
  FusionSample s;
  s.num_gt = static_cast<int>(gt.size());
  const auto aligned = align_peers(ego, peers, cfg.align, requirements_from(ego), &s.stats);
  s.queries = build_anchor_queries(ego, aligned, cfg);
  const std::int64_t N = s.queries.num_queries();
  s.label = torch::zeros({N});
  s.gt_box = torch::zeros({N, 7});
  s.reg_mask = torch::zeros({N}, torch::kBool);
  const float* qb = N > 0 ? s.queries.q_box.data_ptr<float>() : nullptr;
  float* lab = s.label.data_ptr<float>();
  float* gb = s.gt_box.data_ptr<float>();
  bool* rm = s.reg_mask.data_ptr<bool>();
  for (std::int64_t n = 0; n < N; ++n) {
    const Box3D q = box_from_row(qb + n * 7);
    double best = 0;
    int bi = -1;
    for (std::size_t g = 0; g < gt.size(); ++g) {
      if (std::hypot(gt[g].center.x() - q.center.x(), gt[g].center.y() - q.center.y()) >
          0.5 * (std::hypot(gt[g].l_m, gt[g].w_m) + std::hypot(q.l_m, q.w_m)))
        continue;
      const double iou = bev_iou(q, gt[g]);
      if (iou > best) best = iou, bi = static_cast<int>(g);
    }
    lab[n] = best >= tcfg.pos_iou ? 1.f : (best < tcfg.neg_iou ? 0.f : -1.f);
    if (bi >= 0 && best >= tcfg.reg_iou) {
      rm[n] = true;
      const auto& b = gt[bi];
      const double v[7] = {b.center.x(), b.center.y(), b.center.z(), b.l_m, b.w_m, b.h_m, b.yaw_rad};
      for (int k = 0; k < 7; ++k) gb[n * 7 + k] = static_cast<float>(v[k]);
    }
  }
  if (assigner != nullptr && ego.features != nullptr) {
    s.dense = stack_dense(*ego.features, aligned, cfg.dense.warp);
    detection::AssignmentTargets t;
    assigner->assign(gt, t);
    const auto& ac = assigner->anchor_config();
    const std::int64_t H = ac.height(), W = ac.width(), A = ac.anchors_per_cell();
    encoder::TargetBatch tb;
    tb.labels = torch::from_blob(t.labels.data(), {1, H, W, A}, torch::kInt8).to(torch::kFloat32);
    tb.box = torch::from_blob(t.box_targets.data(), {1, H, W, A, 7}, torch::kFloat32).clone();
    tb.dir = torch::from_blob(t.dir_targets.data(), {1, H, W, A}, torch::kInt8).to(torch::kInt64).clamp_min(0);
    s.head_targets = tb;
  }
  (void)boxes_tensor;
  return s;
}

namespace {
torch::Tensor focal(const torch::Tensor& logits, const torch::Tensor& label, double alpha, double gamma) {
  const auto pos = (label > 0.5).to(logits.dtype());
  const auto valid = (label > -0.5).to(logits.dtype());
  const auto p = torch::sigmoid(logits);
  const auto ce = torch::binary_cross_entropy_with_logits(logits, pos, {}, {}, at::Reduction::None);
  const auto p_t = p * pos + (1 - p) * (1 - pos);
  const auto a_t = alpha * pos + (1 - alpha) * (1 - pos);
  return (ce * a_t * torch::pow(1 - p_t, gamma) * valid).sum();
}
// Quality focal loss (Li et al., GFL): BCE towards a soft target q in [0, 1], weighted by |sigmoid − q|^gamma.
torch::Tensor quality_focal(const torch::Tensor& logits, const torch::Tensor& q, double gamma) {
  const auto ce = torch::binary_cross_entropy_with_logits(logits, q, {}, {}, at::Reduction::None);
  return (ce * torch::pow((torch::sigmoid(logits) - q).abs(), gamma)).sum();
}
// Rotated BEV IoU of row i of boxes (N, 7) with row i of targets (N, 7) where mask (N) is set, else 0.
torch::Tensor rowwise_bev_iou(const torch::Tensor& boxes, const torch::Tensor& targets, const torch::Tensor& mask) {
  const auto b = boxes.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const auto g = targets.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto m = mask.to(torch::kCPU).contiguous();
  auto out = torch::zeros({b.size(0)});
  const float* bp = b.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  const bool* mp = m.data_ptr<bool>();
  float* o = out.data_ptr<float>();
  for (std::int64_t i = 0; i < b.size(0); ++i) {
    if (!mp[i]) continue;
    const Box3D x = box_from_row(bp + i * 7), y = box_from_row(gp + i * 7);
    if (!(x.l_m > 0 && x.w_m > 0 && std::isfinite(x.center.x()) && std::isfinite(x.center.y()))) continue;
    o[i] = static_cast<float>(bev_iou(x, y));
  }
  return out.to(boxes.device());
}
torch::Tensor smooth_l1(const torch::Tensor& d, double beta) {
  const auto a = d.abs();
  return beta > 0 ? torch::where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta) : a;
}
}  // namespace

AnchorLossTerms anchor_fusion_loss(const AnchorFusionOutput& out, const torch::Tensor& label, const torch::Tensor& gt_box,
                                   const torch::Tensor& reg_mask, const FusionTrainConfig& cfg) {
  AnchorLossTerms t;
  const auto opts = label.options();
  const auto num_pos = (label > 0.5).sum().to(torch::kFloat32);
  const auto num_reg = reg_mask.sum().to(torch::kFloat32);
  t.num_pos = num_pos.item<double>();
  t.num_reg = num_reg.item<double>();
  auto score = torch::zeros({}, opts);
  auto box = torch::zeros({}, opts);
  const auto rm = reg_mask.to(torch::kFloat32).unsqueeze(1);
  const double L = static_cast<double>(out.logits.size());
  for (std::size_t l = 0; l < out.logits.size(); ++l) {
    if (cfg.quality_scores) {
      const auto q = rowwise_bev_iou(out.boxes[l + 1], gt_box, reg_mask);
      score = score + quality_focal(out.logits[l], q, cfg.focal_gamma) / num_pos.clamp_min(1.0);
    } else {
      score = score + focal(out.logits[l], label, cfg.focal_alpha, cfg.focal_gamma) / num_pos.clamp_min(1.0);
    }
    const auto target = encode_box_targets(out.boxes[l].detach(), gt_box);
    auto diff = out.deltas[l] - target;
    // Yaw through sin of the (mod pi) difference, as the detector's loss does.
    diff = torch::cat({diff.narrow(1, 0, 6), torch::sin(diff.narrow(1, 6, 1))}, 1);
    box = box + (smooth_l1(diff, cfg.smooth_l1_beta) * rm).sum() / num_reg.clamp_min(1.0);
  }
  t.score = score / L;
  t.box = box / L;
  t.total = t.score + cfg.box_weight * t.box;
  return t;
}

FusionTrainer::FusionTrainer(const FusionConfig& cfg, const FusionTrainConfig& tcfg, int channels, torch::Device device)
    : cfg_(cfg), tcfg_(tcfg), device_(device), anchor_(cfg.anchor, channels), attn_(channels) {
  validate_config(cfg_);
  validate_config(tcfg_);
  anchor_->to(device_);
  attn_->to(device_);
  opt_anchor_ = std::make_unique<torch::optim::AdamW>(
      anchor_->parameters(), torch::optim::AdamWOptions(tcfg.lr).weight_decay(tcfg.weight_decay));
  opt_attn_ = std::make_unique<torch::optim::AdamW>(attn_->parameters(),
                                                    torch::optim::AdamWOptions(tcfg.lr * 0.1).weight_decay(0.0));
}

FusionTrainer::StepResult FusionTrainer::run(const std::vector<FusionSample>& batch, NetDetector* detector, bool train) {
  StepResult r;
  std::vector<AnchorQueries> qs;
  std::vector<torch::Tensor> labels, gts, regs;
  for (const auto& s : batch) {
    if (s.queries.num_queries() == 0) continue;
    qs.push_back(s.queries), labels.push_back(s.label), gts.push_back(s.gt_box), regs.push_back(s.reg_mask);
  }
  if (train) anchor_->train(); else anchor_->eval();
  if (!qs.empty()) {
    const auto q = concat_queries(qs).to(device_);
    const auto label = torch::cat(labels).to(device_), gt = torch::cat(gts).to(device_), reg = torch::cat(regs).to(device_);
    std::optional<torch::NoGradGuard> ng;
    if (!train) ng.emplace();
    const auto out = anchor_->forward(q);
    const auto loss = anchor_fusion_loss(out, label, gt, reg, tcfg_);
    if (train) {
      opt_anchor_->zero_grad();
      loss.total.backward();
      torch::nn::utils::clip_grad_norm_(anchor_->parameters(), 10.0);
      opt_anchor_->step();
    }
    r.anchor_loss = loss.total.item<double>();
    r.anchor_score = loss.score.item<double>();
    r.anchor_box = loss.box.item<double>();
    r.num_pos = loss.num_pos;
    r.queries = static_cast<int>(q.num_queries());
  }
  if (tcfg_.train_attn && detector != nullptr) {
    std::vector<torch::Tensor> maps, masks, lab, box, dir;
    std::int64_t A = 0;
    for (const auto& s : batch)
      if (s.dense && s.head_targets) A = std::max(A, s.dense->maps.size(0));
    for (const auto& s : batch) {
      if (!s.dense || !s.head_targets) continue;
      auto m = s.dense->maps, k = s.dense->mask;
      if (m.size(0) < A) {  // pad agents with masked rows
        m = torch::cat({m, torch::zeros({A - m.size(0), m.size(1), m.size(2), m.size(3)})});
        k = torch::cat({k, torch::zeros({A - k.size(0), k.size(1), k.size(2)}, torch::kBool)});
      }
      maps.push_back(m), masks.push_back(k);
      lab.push_back(s.head_targets->labels), box.push_back(s.head_targets->box), dir.push_back(s.head_targets->dir);
    }
    if (!maps.empty()) {
      if (train) attn_->train(); else attn_->eval();
      for (auto& p : detector->net()->parameters()) p.requires_grad_(false);  // frozen: gradients reach attn only
      std::optional<torch::NoGradGuard> ng;
      if (!train) ng.emplace();
      const auto fused = attn_->forward(torch::stack(maps).to(device_), torch::stack(masks).to(device_));
      const auto head = detector->run_head(fused);
      encoder::TargetBatch tb{torch::cat(lab).to(device_), torch::cat(box).to(device_), torch::cat(dir).to(device_)};
      const auto l = encoder::detection_loss(head, tb, detector->config().loss);
      if (train) {
        opt_attn_->zero_grad();
        l.total.backward();
        opt_attn_->step();
      }
      r.attn_loss = l.total.item<double>();
    }
  }
  return r;
}

FusionTrainer::StepResult FusionTrainer::step(const std::vector<FusionSample>& batch, NetDetector* detector) {
  return run(batch, detector, true);
}
FusionTrainer::StepResult FusionTrainer::evaluate(const std::vector<FusionSample>& batch, NetDetector* detector) {
  return run(batch, detector, false);
}

}  // namespace v2x::fusion
