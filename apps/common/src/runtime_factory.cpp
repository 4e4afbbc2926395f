#include "v2x/apps/runtime_factory.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <stdexcept>

#include "v2x/encoder/manifest.hpp"
#include "v2x/fusion/fusers.hpp"
#include "v2x/fusion/perception.hpp"

namespace v2x::apps {

LearnedPerception::LearnedPerception(std::shared_ptr<encoder::LidarDetector> lidar,
                                     std::shared_ptr<encoder::CameraEncoder> camera)
    : det_(std::move(lidar)), cam_(std::move(camera)) {
  if (!det_) throw std::invalid_argument("LearnedPerception: no detector");
  grid_ = det_->config().feature_grid();
  channels_ = det_->config().net.out_channels;
  if (cam_ && !cam_->has_fusion())
    spdlog::warn("camera model has no LiDAR+camera fusion weights: agents with both sensors use their LiDAR only");
}

LocalPerception LearnedPerception::perceive(const AgentFrame& frame, AgentId agent, SensorSet sensors) {
  const TimestampNs stamp = frame.stamp_ns;
  const bool want_lidar = uses_lidar(sensors);
  const bool want_cam = cam_ && (sensors == SensorSet::Auto ? !frame.cameras.empty() : uses_cameras(sensors));
  if (uses_cameras(sensors) && !cam_)
    throw std::logic_error("LearnedPerception: sensors '" + std::string(enum_name(sensors)) + "' without a camera model");

  std::optional<encoder::DetectorOutput> lidar;
  double encode_ms = 0, detect_ms = 0;
  if (want_lidar) {
    auto r = det_->run(frame.cloud, agent, stamp);
    if (!r) {
      ++failures_;
      spdlog::warn("agent {}: LiDAR detector failed on this frame ({}); LiDAR dropped", agent, r.error().message);
    } else if (!r.value().empty_input) {
      const auto& t = r.value().timings;
      spdlog::debug("agent {}: {} points, {} pillars: pillarize {:.1f} ms, network {:.1f} ms, decode {:.1f} ms",
                    agent, r.value().points_used, r.value().pillars, t.pillarize_ms, t.network_ms, t.decode_ms);
      encode_ms += t.pillarize_ms + t.network_ms;
      detect_ms += t.decode_ms;
      lidar = std::move(r.value());
    }
  }
  std::optional<encoder::CameraEncodeOutput> camera;
  if (want_cam && (!lidar || cam_->has_fusion())) {
    auto r = cam_->encode(frame.cameras, agent, stamp);
    if (!r) {
      ++failures_;
      spdlog::warn("agent {}: camera branch failed on this frame ({}); cameras dropped", agent, r.error().message);
    } else if (r.value().modality & kModalityCamera) {
      encode_ms += r.value().prepare_ms + r.value().network_ms;
      detect_ms += r.value().decode_ms;
      camera = std::move(r.value());
    }
  }
  if (lidar && camera) {  // LiDAR + camera: merged map, LiDAR head on it
    const auto t0 = std::chrono::steady_clock::now();
    auto fused = cam_->fuse(lidar->features, camera->features);
    auto head = fused ? det_->run_head(std::move(fused.value())) : Expected<encoder::DetectorOutput>(fused.error());
    if (head) {
      const double fuse_and_head_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      encode_ms += fuse_and_head_ms - head.value().timings.decode_ms;
      detect_ms += head.value().timings.decode_ms;
      // The agent's own detections and proposals come from the fused map; the map it sends and fuses with stays
      // its LiDAR map (the fusers were trained on LiDAR maps: docs/cameras.md, "Which map a LiDAR+camera agent
      // shares"), so the proposals' feature vectors are sampled from the LiDAR map too.
      encoder::DetectorOutput& h = head.value();
      lidar->detections = std::move(h.detections);
      lidar->proposals = std::move(h.proposals);
      for (auto& q : lidar->proposals)
        q.feature = encoder::sample_features(lidar->features, q.proposal.box.center.x(), q.proposal.box.center.y());
    } else {
      ++failures_;
      spdlog::warn("agent {}: LiDAR+camera fusion failed ({}); cameras dropped", agent, head.error().message);
      camera.reset();
    }
  }
  LocalPerception out;
  if (lidar) {
    out.features = std::move(lidar->features);
    out.detections = std::move(lidar->detections);
    out.proposals = fusion::to_sparse_anchors(lidar->proposals);
  } else if (camera) {
    out.features = std::move(camera->features);
    out.detections = std::move(camera->detections);
    out.proposals = fusion::to_sparse_anchors(camera->proposals);
  } else {
    out = empty_perception(grid_, channels_, agent, stamp);
  }
  out.modality = encoder::modality_bits(lidar.has_value(), camera.has_value());
  out.encode_ms = encode_ms;
  out.detect_ms = detect_ms;
  return out;
}

RuntimeModels::RuntimeModels(const NodeConfig& cfg) : cfg_(cfg) {
  validate_config(cfg_);
  const encoder::ModelManifest m = encoder::read_manifest(cfg_.model_dir);
  encoder::DetectorConfig dc = m.config;
  dc.num_threads = cfg_.num_threads;
  std::shared_ptr<encoder::CameraEncoder> camera;
  if (!cfg_.camera_model_dir.empty()) camera = std::make_shared<encoder::CameraEncoder>(cfg_.camera_model_dir, dc);
  perception_ = std::make_shared<LearnedPerception>(std::make_shared<encoder::LidarDetector>(cfg_.model_dir, dc),
                                                    std::move(camera));
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
