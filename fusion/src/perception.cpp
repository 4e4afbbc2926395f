#include "v2x/fusion/perception.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

namespace v2x::fusion {

std::vector<float> feature_at(const FeatureMap& map, int ix, int iy) {
  std::vector<float> f(static_cast<std::size_t>(std::max(0, map.channels)), 0.f);
  if (ix < 0 || iy < 0 || ix >= map.width || iy >= map.height) return f;
  for (int c = 0; c < map.channels; ++c) f[c] = map.at(c, iy, ix);
  return f;
}

NetDetector::NetDetector(const encoder::DetectorConfig& cfg, encoder::DetectorNet net, torch::Device device)
    : cfg_(cfg), net_(std::move(net)), device_(device), pillarizer_(cfg.pillars),
      anchors_(detection::generate_anchors(cfg.anchor_config())), grid_(cfg.feature_grid()) {
  // The head is a registered child of DetectorNet ("head"); max/attn fusion re-run it on fused maps.
  for (const auto& kv : net_->named_children())
    if (kv.key() == "head") head_ = std::dynamic_pointer_cast<encoder::DetectionHeadImpl>(kv.value());
  if (!head_) throw std::runtime_error("NetDetector: DetectorNet has no 'head' module");
  net_->fold_batchnorm_for_inference();
  net_->to(device_);
}

std::shared_ptr<NetDetector> NetDetector::load(const encoder::DetectorConfig& cfg, const std::string& weights_file,
                                               torch::Device device) {
  if (!std::filesystem::exists(weights_file))
    throw std::runtime_error(weights_file + ": detector weights not found");
  encoder::DetectorNet net(cfg);
  try {
    torch::load(net, weights_file);
  } catch (const c10::Error& e) {
    throw std::runtime_error(weights_file + ": cannot load detector weights for this DetectorConfig (" +
                             std::string(e.what_without_backtrace()) + ")");
  }
  return std::make_shared<NetDetector>(cfg, net, device);
}

std::shared_ptr<NetDetector> NetDetector::from_model(const std::string& model_dir, torch::Device device) {
  const encoder::ModelManifest m = encoder::read_manifest(model_dir);
  return load(m.config, m.weights_path(), device);
}

std::vector<SparseAnchor> to_sparse_anchors(const std::vector<encoder::QueryProposal>& proposals) {
  std::vector<SparseAnchor> out;
  out.reserve(proposals.size());
  for (const auto& q : proposals) out.push_back(SparseAnchor{q.proposal.box, q.proposal.score, q.feature});
  return out;
}

encoder::HeadOutput NetDetector::run_head(const torch::Tensor& features) { return head_->forward(features); }

AgentPerception NetDetector::decode_sample(const encoder::HeadOutput& out, int b, AgentId agent,
                                           TimestampNs stamp_ns) const {
  AgentPerception p;
  const auto feat = out.features[b].to(torch::kCPU).contiguous();  // (C, H, W)
  const auto cls = out.cls[b].to(torch::kCPU).contiguous();        // (H, W, A)
  const auto box = out.box[b].to(torch::kCPU).contiguous();        // (H, W, A, 7)
  const auto dir = out.dir[b].to(torch::kCPU).contiguous();        // (H, W, A, 2)
  const int C = static_cast<int>(feat.size(0)), H = static_cast<int>(feat.size(1)), W = static_cast<int>(feat.size(2));
  p.map = FeatureMap(C, H, W);
  std::copy(feat.data_ptr<float>(), feat.data_ptr<float>() + feat.numel(), p.map.data.begin());
  {
    const auto conf = std::get<0>(torch::sigmoid(cls).max(-1)).contiguous();  // (H, W)
    p.map.confidence.assign(conf.data_ptr<float>(), conf.data_ptr<float>() + conf.numel());
  }
  p.map.grid = grid_;
  p.map.agent = agent;
  p.map.stamp_ns = stamp_ns;

  const float* c = cls.data_ptr<float>();
  const float* bx = box.data_ptr<float>();
  const float* d = dir.data_ptr<float>();
  const auto dets = detection::decode_head(anchors_, c, bx, d, cfg_.decode, cfg_.coder);
  p.local = detection::to_detection_list(dets, agent, stamp_ns);
  detection::DecodeConfig pc = cfg_.decode;
  pc.score_threshold = cfg_.proposal_score_min;
  pc.max_detections = std::max(1, cfg_.num_proposals);
  if (cfg_.num_proposals > 0) {
    for (const auto& pr : detection::decode_head(anchors_, c, bx, d, pc, cfg_.coder)) {
      SparseAnchor a;
      a.box = pr.box;
      a.score = pr.score;
      a.feature = encoder::sample_features(p.map, pr.box.center.x(), pr.box.center.y());
      p.proposals.push_back(std::move(a));
    }
  }
  return p;
}

std::vector<AgentPerception> NetDetector::perceive_batch(const std::vector<const PointCloud*>& clouds,
                                                         const std::vector<AgentId>& agents,
                                                         const std::vector<TimestampNs>& stamps) {
  std::vector<AgentPerception> out;
  if (clouds.empty()) return out;
  std::vector<encoder::Pillars> pillars;
  pillars.reserve(clouds.size());
  for (const PointCloud* c : clouds) pillars.push_back(pillarizer_.run(*c));
  std::vector<const encoder::Pillars*> ptrs;
  for (const auto& p : pillars) ptrs.push_back(&p);
  torch::NoGradGuard ng;
  const auto batch = encoder::make_pillar_batch(ptrs).to(device_);
  auto head = net_->forward(batch);
  encoder::HeadOutput cpu{head.cls.to(torch::kCPU), head.box.to(torch::kCPU), head.dir.to(torch::kCPU),
                          head.features.to(torch::kCPU)};
  for (std::size_t i = 0; i < clouds.size(); ++i)
    out.push_back(decode_sample(cpu, static_cast<int>(i), i < agents.size() ? agents[i] : 0,
                                i < stamps.size() ? stamps[i] : 0));
  return out;
}

AgentPerception NetDetector::perceive(const PointCloud& cloud, AgentId agent, TimestampNs stamp_ns) {
  return std::move(perceive_batch({&cloud}, {agent}, {stamp_ns}).front());
}

DetectionList NetDetector::detect_map(const torch::Tensor& map, const detection::DecodeConfig& decode, AgentId agent,
                                      TimestampNs stamp_ns) {
  torch::NoGradGuard ng;
  auto out = head_->forward(map.to(device_));
  const auto cls = out.cls[0].to(torch::kCPU).contiguous();
  const auto box = out.box[0].to(torch::kCPU).contiguous();
  const auto dir = out.dir[0].to(torch::kCPU).contiguous();
  const auto dets = detection::decode_head(anchors_, cls.data_ptr<float>(), box.data_ptr<float>(),
                                           dir.data_ptr<float>(), decode, cfg_.coder);
  return detection::to_detection_list(dets, agent, stamp_ns);
}

}  // namespace v2x::fusion
