#include "v2x/apps/runtime_factory.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "v2x/encoder/manifest.hpp"
#include "v2x/fusion/fusers.hpp"
#include "v2x/fusion/perception.hpp"

namespace v2x::apps {

LidarPerception::LidarPerception(std::shared_ptr<encoder::LidarDetector> detector) : det_(std::move(detector)) {
  if (!det_) throw std::invalid_argument("LidarPerception: no detector");
  grid_ = det_->config().feature_grid();
  channels_ = det_->config().net.out_channels;
}

LocalPerception LidarPerception::perceive(const PointCloud& cloud, AgentId agent, TimestampNs stamp_ns) {
  LocalPerception out;
  auto r = det_->run(cloud, agent, stamp_ns);
  if (!r) {
    ++failures_;
    spdlog::warn("agent {}: detector failed on this frame ({}); zero features, no detections", agent,
                 r.error().message);
    out.features = FeatureMap(channels_, grid_.height(), grid_.width());
    out.features.grid = grid_;
    out.features.confidence.assign(out.features.cells(), 0.f);
    out.features.agent = agent;
    out.features.stamp_ns = stamp_ns;
    out.detections.agent = agent;
    out.detections.stamp_ns = stamp_ns;
    return out;
  }
  encoder::DetectorOutput& o = r.value();
  out.features = std::move(o.features);
  out.detections = std::move(o.detections);
  out.proposals = fusion::to_sparse_anchors(o.proposals);
  spdlog::debug("agent {}: {} points, {} pillars: pillarize {:.1f} ms, network {:.1f} ms, decode {:.1f} ms", agent,
                o.points_used, o.pillars, o.timings.pillarize_ms, o.timings.network_ms, o.timings.decode_ms);
  out.encode_ms = o.timings.pillarize_ms + o.timings.network_ms;
  out.detect_ms = o.timings.decode_ms;
  return out;
}

RuntimeModels::RuntimeModels(const NodeConfig& cfg) : cfg_(cfg) {
  validate_config(cfg_);
  const encoder::ModelManifest m = encoder::read_manifest(cfg_.model_dir);
  encoder::DetectorConfig dc = m.config;
  dc.num_threads = cfg_.num_threads;
  perception_ = std::make_shared<LidarPerception>(std::make_shared<encoder::LidarDetector>(cfg_.model_dir, dc));
}

RuntimeModels::~RuntimeModels() = default;

std::unique_ptr<fusion::Fuser> RuntimeModels::make_fuser() {
  using fusion::FusionMethod;
  fusion::FuserResources res;
  const FusionMethod m = cfg_.fusion;
  if (m == FusionMethod::Early || m == FusionMethod::Max || m == FusionMethod::Attn || m == FusionMethod::Anchor) {
    // The fusers' own handle on the detector (head re-run on fused maps, detector on merged points). It holds a
    // second copy of the same weights: LidarDetector keeps its network private.
    if (!fusion_detector_) fusion_detector_ = fusion::NetDetector::from_model(cfg_.model_dir);
    res.detector = fusion_detector_;
  }
  res.model_dir = cfg_.fusion_model_dir;
  return fusion::make_fuser(m, cfg_.fusion_config, res);
}

}  // namespace v2x::apps
