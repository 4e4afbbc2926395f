#include "v2x/fusion/anchor_fusion.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "v2x/detection/nms.hpp"

namespace v2x::fusion {

namespace nn = torch::nn;

AnchorQueries AnchorQueries::to(const torch::Device& d) const {
  AnchorQueries o = *this;
  for (torch::Tensor* t : {&o.q_box, &o.q_score, &o.q_feat, &o.q_src, &o.k_feat, &o.k_xy, &o.k_agent, &o.k_meta,
                           &o.k_mask})
    if (t->defined()) *t = t->to(d, /*non_blocking=*/true);
  return o;
}

namespace {

struct Query {
  Box3D box;
  float score = 0;
  std::vector<float> feature;  // (C,) or empty
  std::array<float, kQuerySources> src{0, 0, 0};
  float ego_score = 0;  // the ego's own proposal score (0 when the ego did not propose it)
};

float clampf(double v, double lo, double hi) { return static_cast<float>(std::min(hi, std::max(lo, v))); }

bool finite_box(const Box3D& b) {
  return b.center.allFinite() && std::isfinite(b.l_m) && std::isfinite(b.w_m) && std::isfinite(b.h_m) &&
         std::isfinite(b.yaw_rad) && b.l_m > 0 && b.w_m > 0 && b.h_m > 0;
}

// Ego map transposed to (H, W, C) for contiguous cell reads.
struct EgoCells {
  BevGrid grid;
  int w = 0, h = 0, c = 0;
  std::vector<float> hwc;
  explicit EgoCells(const FeatureMap& m) : grid(m.grid), w(m.width), h(m.height), c(m.channels) {
    hwc.resize(static_cast<std::size_t>(w) * h * c);
    const std::size_t hw = static_cast<std::size_t>(w) * h;
    for (int ch = 0; ch < c; ++ch) {
      const float* src = m.data.data() + ch * hw;
      for (std::size_t i = 0; i < hw; ++i) hwc[i * c + ch] = src[i];
    }
  }
  // Nearest cell containing (x, y), nullptr outside.
  const float* at(double x, double y) const {
    const double fx = (x - grid.x_min_m) / grid.cell_m, fy = (y - grid.y_min_m) / grid.cell_m;
    if (!(fx >= 0 && fy >= 0 && fx < w && fy < h)) return nullptr;
    return hwc.data() + (static_cast<std::size_t>(fy) * w + static_cast<std::size_t>(fx)) * c;
  }
};

}  // namespace

AnchorQueries build_anchor_queries(const EgoInput& ego, const std::vector<AlignedPeer>& peers_in,
                                   const FusionConfig& fcfg) {
  const AnchorFusionConfig& cfg = fcfg.anchor;
  const AlignmentConfig& acfg = fcfg.align;
  const int C = ego.features ? ego.features->channels : 0;
  const EgoCells ego_cells = ego.features ? EgoCells(*ego.features) : EgoCells(FeatureMap{});
  const std::size_t P = std::min<std::size_t>(peers_in.size(), static_cast<std::size_t>(cfg.max_peers));

  // ---- queries: ego proposals, then peer anchors merged in ----
  std::vector<Query> qs;
  if (ego.proposals != nullptr) {
    for (const auto& a : *ego.proposals) {
      if (!finite_box(a.box)) continue;
      Query q{a.box, a.score, static_cast<int>(a.feature.size()) == C ? a.feature : std::vector<float>{}, {1, 0, 0},
              a.score};
      qs.push_back(std::move(q));
    }
  } else if (ego.local != nullptr) {
    for (const auto& d : ego.local->detections)
      if (finite_box(d.box)) qs.push_back(Query{d.box, d.score, {}, {1, 0, 0}, d.score});
  }
  struct PeerAnchorRef {
    const SparseAnchor* a;
    const AlignedPeer* peer;
  };
  std::vector<PeerAnchorRef> peer_anchors;
  for (std::size_t p = 0; p < P; ++p) {
    const AlignedPeer& peer = peers_in[p];
    for (const auto& a : peer.anchors_ego) {
      if (!finite_box(a.box) || !std::isfinite(a.score) || a.score < cfg.peer_anchor_score_min) continue;
      peer_anchors.push_back({&a, &peer});
    }
  }
  // A peer without pose error and latency (align σ 0, fresh message) is as trustworthy as the ego's own view.
  auto exact = [&](const AlignedPeer& peer) {
    const double sigma = peer.kind == kAgentRsu ? acfg.rsu_pose_sigma_m : acfg.pose_sigma_m;
    return cfg.exact_peer_max_age_ms >= 0 && sigma <= 0 && acfg.pose_sigma_yaw_deg <= 0 &&
           peer.age_s * 1e3 <= cfg.exact_peer_max_age_ms;
  };
  // Merge peer anchors, most confident first, so the strongest box survives.
  std::vector<std::size_t> order(peer_anchors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return peer_anchors[i].a->score > peer_anchors[j].a->score; });
  for (std::size_t oi : order) {
    const SparseAnchor& a = *peer_anchors[oi].a;
    const int kind = static_cast<int>(peer_anchors[oi].peer->kind);
    int best = -1;
    double best_d = 1e18;
    for (std::size_t i = 0; i < qs.size(); ++i) {
      const double d = std::hypot(qs[i].box.center.x() - a.box.center.x(), qs[i].box.center.y() - a.box.center.y());
      if (d > std::max(cfg.merge_dist_m, 6.0)) continue;
      if (d <= cfg.merge_dist_m || bev_iou(qs[i].box, a.box) >= cfg.merge_iou) {
        if (d < best_d) best_d = d, best = static_cast<int>(i);
      }
    }
    if (best < 0) {
      Query q{a.box, a.score, static_cast<int>(a.feature.size()) == C ? a.feature : std::vector<float>{}, {0, 0, 0}};
      q.src[kind] = 1;
      qs.push_back(std::move(q));
      continue;
    }
    Query& q = qs[best];
    // The ego's confident box is kept (no pose error, no latency); a weak ego proposal is usually the ego's poor
    // view of the object, so the most confident box wins then (cfg.ego_box_score_min), as it always does against
    // an exact peer.
    const bool ego_box = q.src[kAgentEgo] != 0 && q.ego_score >= cfg.ego_box_score_min && !exact(*peer_anchors[oi].peer);
    if (!ego_box && a.score > q.score) q.box = a.box;
    q.score = std::max(q.score, a.score);
    q.src[kind] = 1;
    if (q.feature.empty() && static_cast<int>(a.feature.size()) == C) q.feature = a.feature;
  }
  if (static_cast<int>(qs.size()) > cfg.max_queries) {
    std::stable_sort(qs.begin(), qs.end(), [](const Query& x, const Query& y) { return x.score > y.score; });
    qs.resize(cfg.max_queries);
  }

  // ---- tensors ----
  const std::int64_t N = static_cast<std::int64_t>(qs.size());
  const std::int64_t M = cfg.anchor_keys;
  const std::int64_t K = kPatternKeys * (1 + static_cast<std::int64_t>(P)) + M;
  AnchorQueries out;
  out.q_box = torch::zeros({N, 7});
  out.q_score = torch::zeros({N});
  out.q_feat = torch::zeros({N, 2 * C});
  out.q_src = torch::zeros({N, kQuerySources});
  out.k_feat = torch::zeros({N, K, C});
  out.k_xy = torch::zeros({N, K, 2});
  out.k_agent = torch::zeros({N, K}, torch::kInt64);
  out.k_meta = torch::zeros({N, K, kKeyMeta});
  out.k_mask = torch::zeros({N, K}, torch::kBool);
  out.frame_offsets = {0, N};
  float* qb = out.q_box.data_ptr<float>();
  float* qsc = out.q_score.data_ptr<float>();
  float* qf = out.q_feat.data_ptr<float>();
  float* qsrc = out.q_src.data_ptr<float>();
  float* kf = out.k_feat.data_ptr<float>();
  float* kxy = out.k_xy.data_ptr<float>();
  std::int64_t* ka = out.k_agent.data_ptr<std::int64_t>();
  float* km = out.k_meta.data_ptr<float>();
  bool* kmask = out.k_mask.data_ptr<bool>();

  std::vector<PeerCellIndex> peer_index;
  std::vector<Pose> T_peer_ego;
  std::vector<double> sigma0;
  const double yaw_sigma = deg_to_rad(acfg.pose_sigma_yaw_deg);
  for (std::size_t p = 0; p < P; ++p) {
    peer_index.emplace_back(peers_in[p].input->msg);
    T_peer_ego.push_back(peers_in[p].T_ego_peer.inverse());
    sigma0.push_back(peers_in[p].kind == kAgentRsu ? acfg.rsu_pose_sigma_m : acfg.pose_sigma_m);
  }

  for (std::int64_t n = 0; n < N; ++n) {
    const Query& q = qs[n];
    const Box3D& b = q.box;
    const double bx[7] = {b.center.x(), b.center.y(), b.center.z(), b.l_m, b.w_m, b.h_m, b.yaw_rad};
    for (int i = 0; i < 7; ++i) qb[n * 7 + i] = static_cast<float>(bx[i]);
    qsc[n] = clampf(q.score, 0, 1);
    for (int s = 0; s < kQuerySources; ++s) qsrc[n * kQuerySources + s] = q.src[s];
    float* qfn = qf + n * 2 * C;
    if (!q.feature.empty()) std::copy(q.feature.begin(), q.feature.end(), qfn);
    if (const float* e = ego_cells.at(b.center.x(), b.center.y())) std::copy(e, e + C, qfn + C);

    // 3×3 pattern positions in the ego frame.
    const double cy = std::cos(b.yaw_rad), sy = std::sin(b.yaw_rad);
    const double hx = std::max(cfg.pattern_min_half_m, cfg.pattern_scale * 0.5 * b.l_m);
    const double hy = std::max(cfg.pattern_min_half_m, cfg.pattern_scale * 0.5 * b.w_m);
    double px[kPatternKeys], py[kPatternKeys];
    for (int u = -1, i = 0; u <= 1; ++u)
      for (int v = -1; v <= 1; ++v, ++i) {
        px[i] = b.center.x() + cy * u * hx - sy * v * hy;
        py[i] = b.center.y() + sy * u * hx + cy * v * hy;
      }
    std::int64_t k = 0;
    auto key = [&](std::int64_t kk) { return n * K + kk; };
    for (int i = 0; i < kPatternKeys; ++i, ++k) {
      const std::int64_t id = key(k);
      kxy[id * 2] = static_cast<float>(px[i]);
      kxy[id * 2 + 1] = static_cast<float>(py[i]);
      ka[id] = kAgentEgo;
      kmask[id] = true;  // ego keys are always valid (zeros outside the ego grid), so no row is fully masked
      if (const float* e = ego_cells.at(px[i], py[i])) std::copy(e, e + C, kf + id * C);
    }
    for (std::size_t p = 0; p < P; ++p) {
      const AlignedPeer& peer = peers_in[p];
      const Eigen::Vector3d pp = peer.T_ego_peer.translation();
      for (int i = 0; i < kPatternKeys; ++i, ++k) {
        const std::int64_t id = key(k);
        kxy[id * 2] = static_cast<float>(px[i]);
        kxy[id * 2 + 1] = static_cast<float>(py[i]);
        ka[id] = peer.kind;
        const Eigen::Vector3d pe = T_peer_ego[p] * Eigen::Vector3d(px[i], py[i], 0.0);
        const float* v = peer_index[p].at(pe.x(), pe.y());
        if (v == nullptr) continue;
        std::copy(v, v + C, kf + id * C);
        kmask[id] = true;
        const double d = std::hypot(px[i] - pp.x(), py[i] - pp.y());
        km[id * kKeyMeta + 0] = clampf(peer.age_s, 0, 10);
        km[id * kKeyMeta + 1] = clampf(sigma0[p] + d * yaw_sigma, 0, 10);
      }
    }
    // Nearest peer anchors.
    if (M > 0 && !peer_anchors.empty()) {
      std::vector<std::pair<double, std::size_t>> near;
      for (std::size_t j = 0; j < peer_anchors.size(); ++j) {
        const auto& c = peer_anchors[j].a->box.center;
        const double d = std::hypot(c.x() - b.center.x(), c.y() - b.center.y());
        if (d <= cfg.anchor_key_radius_m) near.emplace_back(d, j);
      }
      const std::size_t m = std::min<std::size_t>(near.size(), static_cast<std::size_t>(M));
      std::partial_sort(near.begin(), near.begin() + m, near.end());
      for (std::size_t j = 0; j < m; ++j) {
        const std::int64_t id = key(k + static_cast<std::int64_t>(j));
        const SparseAnchor& a = *peer_anchors[near[j].second].a;
        const AlignedPeer& peer = *peer_anchors[near[j].second].peer;
        kxy[id * 2] = static_cast<float>(a.box.center.x());
        kxy[id * 2 + 1] = static_cast<float>(a.box.center.y());
        ka[id] = peer.kind;
        kmask[id] = true;
        if (static_cast<int>(a.feature.size()) == C) std::copy(a.feature.begin(), a.feature.end(), kf + id * C);
        const double sig0 = peer.kind == kAgentRsu ? acfg.rsu_pose_sigma_m : acfg.pose_sigma_m;
        const Eigen::Vector3d pp = peer.T_ego_peer.translation();
        const double d = std::hypot(a.box.center.x() - pp.x(), a.box.center.y() - pp.y());
        km[id * kKeyMeta + 0] = clampf(peer.age_s, 0, 10);
        km[id * kKeyMeta + 1] = clampf(sig0 + d * yaw_sigma, 0, 10);
        km[id * kKeyMeta + 2] = clampf(a.score, 0, 1);
        km[id * kKeyMeta + 3] = 1.f;
      }
    }
  }
  return out;
}

AnchorQueries concat_queries(const std::vector<AnchorQueries>& frames) {
  AnchorQueries out;
  std::int64_t K = 0;
  for (const auto& f : frames)
    if (f.num_queries() > 0) K = std::max(K, f.k_mask.size(1));
  std::vector<torch::Tensor> qb, qs, qf, qsrc, kf, kxy, ka, km, kmask;
  out.frame_offsets = {0};
  for (const auto& f : frames) {
    const std::int64_t n = f.num_queries();
    out.frame_offsets.push_back(out.frame_offsets.back() + n);
    if (n == 0) continue;
    const std::int64_t pad = K - f.k_mask.size(1);
    auto padk = [&](const torch::Tensor& t) {
      if (pad == 0) return t;
      std::vector<std::int64_t> shape(t.sizes().begin(), t.sizes().end());
      shape[1] = pad;
      return torch::cat({t, torch::zeros(shape, t.options())}, 1);
    };
    qb.push_back(f.q_box), qs.push_back(f.q_score), qf.push_back(f.q_feat), qsrc.push_back(f.q_src);
    kf.push_back(padk(f.k_feat)), kxy.push_back(padk(f.k_xy)), ka.push_back(padk(f.k_agent));
    km.push_back(padk(f.k_meta)), kmask.push_back(padk(f.k_mask));
  }
  if (qb.empty()) {
    out = frames.empty() ? AnchorQueries{} : frames.front();
    out.frame_offsets.assign(frames.size() + 1, 0);
    return out;
  }
  out.q_box = torch::cat(qb), out.q_score = torch::cat(qs), out.q_feat = torch::cat(qf), out.q_src = torch::cat(qsrc);
  out.k_feat = torch::cat(kf), out.k_xy = torch::cat(kxy), out.k_agent = torch::cat(ka), out.k_meta = torch::cat(km);
  out.k_mask = torch::cat(kmask);
  return out;
}

// ---- network ----

AnchorFusionNetImpl::AnchorFusionNetImpl(const AnchorFusionConfig& cfg, int channels) : cfg_(cfg), channels_(channels) {
  const int d = cfg.dim;
  q_in_ = register_module("q_in", nn::Linear(2 * channels + kQuerySources + 1 + 3, d));
  q_ln_ = register_module("q_ln", nn::LayerNorm(nn::LayerNormOptions({d})));
  k_feat_ = register_module("k_feat", nn::Linear(channels, d));
  k_meta_ = register_module("k_meta", nn::Linear(kKeyMeta, d));
  k_agent_ = register_module("k_agent", nn::Embedding(kQuerySources, d));
  k_ln_ = register_module("k_ln", nn::LayerNorm(nn::LayerNormOptions({d})));
  for (int l = 0; l < cfg.layers; ++l) {
    Layer L;
    const std::string p = "layer" + std::to_string(l) + "_";
    L.pos = register_module(p + "pos", nn::Sequential(nn::Linear(4, d), nn::ReLU(), nn::Linear(d, d)));
    L.wq = register_module(p + "wq", nn::Linear(d, d));
    L.wk = register_module(p + "wk", nn::Linear(d, d));
    L.wv = register_module(p + "wv", nn::Linear(d, d));
    L.wo = register_module(p + "wo", nn::Linear(d, d));
    L.ln1 = register_module(p + "ln1", nn::LayerNorm(nn::LayerNormOptions({d})));
    L.ln2 = register_module(p + "ln2", nn::LayerNorm(nn::LayerNormOptions({d})));
    L.ffn = register_module(p + "ffn", nn::Sequential(nn::Linear(d, cfg.ffn_dim), nn::ReLU(), nn::Linear(cfg.ffn_dim, d)));
    L.box = register_module(p + "box", nn::Linear(d, 7));
    L.score = register_module(p + "score", nn::Linear(d, 1));
    torch::NoGradGuard ng;
    L.box->weight.zero_(), L.box->bias.zero_();
    L.score->weight.zero_(), L.score->bias.zero_();
    layers_.push_back(L);
  }
}

torch::Tensor apply_box_deltas(const torch::Tensor& b, const torch::Tensor& t) {
  const auto l = b.select(1, 3), w = b.select(1, 4), h = b.select(1, 5);
  const auto diag = torch::sqrt(l * l + w * w);
  const auto tc = t.clamp(-3.0, 3.0);
  return torch::stack({b.select(1, 0) + tc.select(1, 0) * diag, b.select(1, 1) + tc.select(1, 1) * diag,
                       b.select(1, 2) + tc.select(1, 2) * h, l * torch::exp(tc.select(1, 3)),
                       w * torch::exp(tc.select(1, 4)), h * torch::exp(tc.select(1, 5)),
                       b.select(1, 6) + tc.select(1, 6)},
                      1);
}

torch::Tensor encode_box_targets(const torch::Tensor& b, const torch::Tensor& g) {
  const auto l = b.select(1, 3).clamp_min(1e-3), w = b.select(1, 4).clamp_min(1e-3), h = b.select(1, 5).clamp_min(1e-3);
  const auto diag = torch::sqrt(l * l + w * w);
  auto dyaw = g.select(1, 6) - b.select(1, 6);
  dyaw = dyaw - M_PI * torch::floor(dyaw / M_PI + 0.5);  // modulo pi → [-pi/2, pi/2)
  return torch::stack({(g.select(1, 0) - b.select(1, 0)) / diag, (g.select(1, 1) - b.select(1, 1)) / diag,
                       (g.select(1, 2) - b.select(1, 2)) / h, torch::log(g.select(1, 3).clamp_min(1e-3) / l),
                       torch::log(g.select(1, 4).clamp_min(1e-3) / w), torch::log(g.select(1, 5).clamp_min(1e-3) / h),
                       dyaw},
                      1);
}

AnchorFusionOutput AnchorFusionNetImpl::forward(const AnchorQueries& in) {
  AnchorFusionOutput out;
  const std::int64_t N = in.num_queries();
  const int d = cfg_.dim, H = cfg_.heads, dh = d / H;
  auto box = in.q_box;
  out.boxes.push_back(box);
  if (N == 0) {
    for (int l = 0; l < cfg_.layers; ++l) {
      out.boxes.push_back(box);
      out.deltas.push_back(torch::zeros({0, 7}, box.options()));
      out.logits.push_back(torch::zeros({0}, box.options()));
    }
    return out;
  }
  const auto s0 = in.q_score.clamp(1e-4, 1 - 1e-4);
  const auto prior = torch::log(s0 / (1 - s0));  // (N)
  const auto qin = torch::cat({in.q_feat, in.q_src, prior.unsqueeze(1) / 4.0,
                               torch::log(in.q_box.narrow(1, 3, 3).clamp_min(0.1))},
                              1);
  auto q = q_ln_->forward(q_in_->forward(qin));  // (N, d)
  const auto kbase = k_ln_->forward(k_feat_->forward(in.k_feat) + k_meta_->forward(in.k_meta) +
                                    k_agent_->forward(in.k_agent));  // (N, K, d)
  const std::int64_t K = kbase.size(1);
  const auto mask = in.k_mask;  // (N, K)
  for (Layer& L : layers_) {
    // Relative position of every key in the current box frame.
    const auto b = box.detach();
    const auto dx = in.k_xy.select(2, 0) - b.select(1, 0).unsqueeze(1);
    const auto dy = in.k_xy.select(2, 1) - b.select(1, 1).unsqueeze(1);
    const auto c = torch::cos(b.select(1, 6)).unsqueeze(1), s = torch::sin(b.select(1, 6)).unsqueeze(1);
    const auto rx = c * dx + s * dy, ry = -s * dx + c * dy;
    const auto hl = (0.5 * b.select(1, 3)).clamp_min(0.5).unsqueeze(1), hw = (0.5 * b.select(1, 4)).clamp_min(0.5).unsqueeze(1);
    const auto rel = torch::stack({(rx / hl).clamp(-10, 10), (ry / hw).clamp(-10, 10), (rx / 5).clamp(-10, 10),
                                   (ry / 5).clamp(-10, 10)},
                                  2);  // (N, K, 4)
    const auto kk = kbase + L.pos->forward(rel);
    // Multi-head attention of each query over its own K keys (hand-written: one query per row, so a batched
    // matmul over N is cheaper than nn::MultiheadAttention's (L, N, E) packing).
    const auto Q = L.wq->forward(q).view({N, H, 1, dh});
    const auto Kt = L.wk->forward(kk).view({N, K, H, dh}).permute({0, 2, 3, 1});  // (N, H, dh, K)
    const auto V = L.wv->forward(kk).view({N, K, H, dh}).permute({0, 2, 1, 3});   // (N, H, K, dh)
    auto att = torch::matmul(Q, Kt) / std::sqrt(static_cast<double>(dh));         // (N, H, 1, K)
    att = att.masked_fill(mask.logical_not().view({N, 1, 1, K}), -1e9);
    att = torch::softmax(att, -1);
    const auto ctx = torch::matmul(att, V).view({N, d});
    q = L.ln1->forward(q + L.wo->forward(ctx));
    q = L.ln2->forward(q + L.ffn->forward(q));
    // Residuals are predicted at 1/10 scale: early optimiser steps then move boxes by centimetres, not metres.
    const auto delta = 0.1 * L.box->forward(q);
    box = apply_box_deltas(b, delta);
    out.deltas.push_back(delta);
    out.boxes.push_back(box);
    out.logits.push_back(prior + L.score->forward(q).squeeze(1));
  }
  return out;
}

DetectionList anchor_output_to_detections(const AnchorFusionOutput& out, std::int64_t offset, std::int64_t count,
                                          const detection::DecodeConfig& output, AgentId agent, TimestampNs stamp_ns) {
  DetectionList dl;
  dl.agent = agent;
  dl.stamp_ns = stamp_ns;
  if (count <= 0 || out.logits.empty()) return dl;
  const auto boxes = out.boxes.back().narrow(0, offset, count).to(torch::kCPU).contiguous();
  const auto scores = torch::sigmoid(out.logits.back().narrow(0, offset, count)).to(torch::kCPU).contiguous();
  const float* bp = boxes.data_ptr<float>();
  const float* sp = scores.data_ptr<float>();
  std::vector<Box3D> bs;
  std::vector<float> ss;
  for (std::int64_t i = 0; i < count; ++i) {
    if (!(sp[i] > output.score_threshold)) continue;
    Box3D b;
    b.center = {bp[i * 7], bp[i * 7 + 1], bp[i * 7 + 2]};
    b.l_m = bp[i * 7 + 3], b.w_m = bp[i * 7 + 4], b.h_m = bp[i * 7 + 5];
    b.yaw_rad = wrap_angle(bp[i * 7 + 6]);
    bs.push_back(b);
    ss.push_back(sp[i]);
  }
  const auto keep = detection::nms_rotated(bs, ss, output.nms_iou, output.pre_nms_top_k);
  for (int i : keep) {
    if (static_cast<int>(dl.detections.size()) >= output.max_detections) break;
    dl.detections.push_back(Detection{bs[i], ss[i], ObjectClass::Car});
  }
  return dl;
}

}  // namespace v2x::fusion
