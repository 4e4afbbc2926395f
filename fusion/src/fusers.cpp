#include "v2x/fusion/fusers.hpp"

#include <algorithm>
#include <stdexcept>

#include "v2x/detection/nms.hpp"
#include "v2x/fusion/model_io.hpp"

namespace v2x::fusion {

namespace {
std::unique_ptr<Fuser> make_method_fuser(FusionMethod method, const FusionConfig& cfg, const FuserResources& res);
DetectionList ego_only(const EgoInput& ego) {
  DetectionList d = ego.local ? *ego.local : DetectionList{};
  d.agent = ego.id;
  d.stamp_ns = ego.stamp_ns;
  return d;
}
FusionStats& stats_or(FusionStats* s, FusionStats& local) { return s ? *s : local; }
}  // namespace

DetectionList NoFusion::fuse(const EgoInput& ego, const std::vector<PeerInput>&, FusionStats*) { return ego_only(ego); }

LateFusion::LateFusion(FusionConfig cfg) : cfg_(std::move(cfg)) { validate_config(cfg_); }

DetectionList LateFusion::fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) {
  // Late fusion exchanges boxes only: the grid/channel check does not apply (boxes are metric).
  const auto aligned = align_peers(ego, peers, cfg_.align, PeerRequirements{}, stats);
  std::vector<Box3D> boxes;
  std::vector<float> scores;
  if (ego.local)
    for (const auto& d : ego.local->detections) boxes.push_back(d.box), scores.push_back(d.score);
  for (const auto& p : aligned)
    for (const auto& a : p.anchors_ego)
      if (a.score >= cfg_.late.score_min) boxes.push_back(a.box), scores.push_back(a.score);
  DetectionList out;
  out.agent = ego.id;
  out.stamp_ns = ego.stamp_ns;
  for (int i : detection::nms_rotated(boxes, scores, cfg_.output.nms_iou, cfg_.output.pre_nms_top_k)) {
    if (static_cast<int>(out.detections.size()) >= cfg_.output.max_detections) break;
    out.detections.push_back(Detection{boxes[i], scores[i], ObjectClass::Car});
  }
  return out;
}

EarlyFusion::EarlyFusion(FusionConfig cfg, std::shared_ptr<DetectorRuntime> detector)
    : cfg_(std::move(cfg)), det_(std::move(detector)) {
  validate_config(cfg_);
  if (!det_) throw std::runtime_error("early fusion needs the single-agent detector (FuserResources::detector)");
}

DetectionList EarlyFusion::fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) {
  if (ego.cloud == nullptr) return ego_only(ego);
  FusionStats local;
  FusionStats& st = stats_or(stats, local);
  // Raw points carry no grid: only the stale and pose checks apply.
  const auto aligned = align_peers(ego, peers, cfg_.align, PeerRequirements{}, &st);
  PointCloud merged = *ego.cloud;
  merged.time_s.reset();
  int used = 0;
  for (const auto& p : aligned) {
    if (!p.input->points) continue;
    PointCloud pc = *p.input->points;
    pc.time_s.reset();
    pc.transform(p.T_ego_peer);
    merged.append(pc);
    ++used;
  }
  st.peers_used = used;
  merged.remove_non_finite();
  DetectionList out = det_->perceive(merged, ego.id, ego.stamp_ns).local;
  out.agent = ego.id;
  out.stamp_ns = ego.stamp_ns;
  return out;
}

MaxFusion::MaxFusion(FusionConfig cfg, std::shared_ptr<DetectorRuntime> detector)
    : cfg_(std::move(cfg)), det_(std::move(detector)) {
  validate_config(cfg_);
  if (!det_) throw std::runtime_error("max fusion needs the single-agent detector (FuserResources::detector)");
}

DetectionList MaxFusion::fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) {
  if (ego.features == nullptr || ego.features->channels != det_->channels() ||
      !(ego.features->grid == det_->feature_grid()))
    return ego_only(ego);
  const auto aligned = align_peers(ego, peers, cfg_.align, requirements_from(ego), stats);
  torch::NoGradGuard ng;
  const auto fused = max_fuse(stack_dense(*ego.features, aligned, cfg_.dense.warp));
  return det_->detect_map(fused, cfg_.output, ego.id, ego.stamp_ns);
}

AttnFusionFuser::AttnFusionFuser(FusionConfig cfg, std::shared_ptr<DetectorRuntime> detector, AttnFusion net)
    : cfg_(std::move(cfg)), det_(std::move(detector)), net_(std::move(net)) {
  validate_config(cfg_);
  if (!det_) throw std::runtime_error("attn fusion needs the single-agent detector (FuserResources::detector)");
  if (net_->channels() != det_->channels()) throw std::runtime_error("attn fusion: module channels != detector channels");
  net_->eval();
}

DetectionList AttnFusionFuser::fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) {
  if (ego.features == nullptr || ego.features->channels != det_->channels() ||
      !(ego.features->grid == det_->feature_grid()))
    return ego_only(ego);
  const auto aligned = align_peers(ego, peers, cfg_.align, requirements_from(ego), stats);
  torch::NoGradGuard ng;
  const auto s = stack_dense(*ego.features, aligned, cfg_.dense.warp);
  return det_->detect_map(net_->forward(s.maps, s.mask), cfg_.output, ego.id, ego.stamp_ns);
}

AnchorFusion::AnchorFusion(FusionConfig cfg, AnchorFusionNet net) : cfg_(std::move(cfg)), net_(std::move(net)) {
  validate_config(cfg_);
  net_->eval();
}

DetectionList AnchorFusion::fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) {
  if (ego.features == nullptr || ego.features->channels != net_->channels()) return ego_only(ego);
  const auto aligned = align_peers(ego, peers, cfg_.align, requirements_from(ego), stats);
  torch::NoGradGuard ng;
  const auto q = build_anchor_queries(ego, aligned, cfg_);
  const auto out = net_->forward(q);
  return anchor_output_to_detections(out, 0, q.num_queries(), cfg_.output, ego.id, ego.stamp_ns);
}

CameraPeerGate::CameraPeerGate(std::unique_ptr<Fuser> inner, FusionConfig cfg)
    : inner_(std::move(inner)), cfg_(std::move(cfg)) {
  if (!inner_) throw std::invalid_argument("CameraPeerGate: no fuser");
  validate_config(cfg_);
}

DetectionList CameraPeerGate::fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) {
  auto lidar_backed = [](const PeerInput& p) { return (p.msg.modality & kModalityLidar) != 0; };
  // All-LiDAR fleets (the common case): no copy of the peers' messages on the per-frame path.
  if (std::all_of(peers.begin(), peers.end(), lidar_backed)) return inner_->fuse(ego, peers, stats);
  std::vector<PeerInput> lidar_peers, camera_peers;
  for (const auto& p : peers) (lidar_backed(p) ? lidar_peers : camera_peers).push_back(p);
  DetectionList out = inner_->fuse(ego, lidar_peers, stats);
  if (camera_peers.empty() || !cfg_.camera_peers.use_boxes) return out;
  // Boxes are metric: no grid check; the pose check compares confident boxes, which a camera-only agent rarely
  // has, so only the stale check applies.
  AlignmentConfig align = cfg_.align;
  align.check_pose = false;
  FusionStats camera_stats;
  const auto aligned = align_peers(ego, camera_peers, align, PeerRequirements{}, &camera_stats);
  std::vector<Box3D> boxes;
  std::vector<float> scores;
  std::vector<int> from;
  for (std::size_t k = 0; k < aligned.size(); ++k)
    for (const auto& a : aligned[k].anchors_ego)
      if (a.score >= cfg_.camera_peers.score_min) {
        bool overlaps = false;
        for (const auto& d : out.detections) overlaps = overlaps || bev_iou(d.box, a.box) > cfg_.camera_peers.overlap_iou;
        if (!overlaps) boxes.push_back(a.box), scores.push_back(a.score), from.push_back(static_cast<int>(k));
      }
  std::vector<bool> used(aligned.size(), false);
  const float rank_scale = static_cast<float>(cfg_.output.score_threshold);
  for (int i : detection::nms_rotated(boxes, scores, cfg_.output.nms_iou, cfg_.output.pre_nms_top_k)) {
    if (static_cast<int>(out.detections.size()) >= cfg_.output.max_detections) break;
    out.detections.push_back(Detection{boxes[i], scores[i] * rank_scale, ObjectClass::Car});
    used[from[i]] = true;
  }
  if (stats) {
    stats->peers_dropped_stale += camera_stats.peers_dropped_stale;
    for (bool u : used) stats->peers_used += u ? 1 : 0;
  }
  return out;
}

std::unique_ptr<Fuser> make_fuser(FusionMethod method, const FusionConfig& cfg_in, const FuserResources& res) {
  FusionConfig cfg = cfg_in;
  validate_config(cfg);
  if (method == FusionMethod::None) return std::make_unique<NoFusion>();
  return std::make_unique<CameraPeerGate>(make_method_fuser(method, cfg, res), cfg);
}

namespace {
std::unique_ptr<Fuser> make_method_fuser(FusionMethod method, const FusionConfig& cfg, const FuserResources& res) {
  switch (method) {
    case FusionMethod::None: return std::make_unique<NoFusion>();
    case FusionMethod::Late: return std::make_unique<LateFusion>(cfg);
    case FusionMethod::Early: return std::make_unique<EarlyFusion>(cfg, res.detector);
    case FusionMethod::Max: return std::make_unique<MaxFusion>(cfg, res.detector);
    case FusionMethod::Attn: {
      if (!res.detector) throw std::runtime_error("attn fusion needs the single-agent detector (FuserResources::detector)");
      if (res.model_dir.empty()) throw std::runtime_error("attn fusion needs FuserResources::model_dir (fusion weights)");
      auto net = load_attn_fusion(res.model_dir, cfg.anchor, res.detector->channels(), res.detector->feature_grid());
      return std::make_unique<AttnFusionFuser>(cfg, res.detector, net);
    }
    case FusionMethod::Anchor: {
      if (res.model_dir.empty()) throw std::runtime_error("anchor fusion needs FuserResources::model_dir (fusion weights)");
      const auto m = read_manifest(res.model_dir);
      if (!m.contains("architecture") || !m["architecture"].contains("channels") || !m["architecture"].contains("grid"))
        throw std::runtime_error(res.model_dir + "/" + kManifestFile + ": architecture lacks channels/grid");
      const int channels = m["architecture"]["channels"].get<int>();
      const auto g = m["architecture"]["grid"];
      BevGrid grid{g[0].get<double>(), g[1].get<double>(), g[2].get<double>(), g[3].get<double>(), g[4].get<double>()};
      if (res.detector && (res.detector->channels() != channels || !(res.detector->feature_grid() == grid)))
        throw std::runtime_error(res.model_dir + "/" + kManifestFile + ": fusion weights were trained for " +
                                 std::to_string(channels) + " channels on " + grid.describe() + ", the detector has " +
                                 std::to_string(res.detector->channels()) + " on " + res.detector->feature_grid().describe());
      return std::make_unique<AnchorFusion>(cfg, load_anchor_fusion(res.model_dir, cfg.anchor, channels, grid));
    }
  }
  throw std::runtime_error("unknown fusion method");
}
}  // namespace

}  // namespace v2x::fusion
