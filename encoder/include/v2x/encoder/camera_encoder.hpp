#pragma once
// Runtime camera encoder (LibTorch behind a pimpl): an agent's cameras → BEV FeatureMap (C, H, W) on the LiDAR
// detector's feature grid + per-cell confidence + camera-only detections; and the per-agent modality fusion of a
// LiDAR map with a camera map into one FeatureMap of the same shape.
//
// Bad input never throws: a camera with a missing/corrupt image or unusable calibration is dropped for the frame
// and counted (CameraInputStats, totals()); an agent whose cameras are all dropped gets a zero map, no detections
// and modality bit kModalityCamera cleared.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "v2x/core/detection.hpp"
#include "v2x/core/expected.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/frame.hpp"
#include "v2x/core/sparse_features.hpp"
#include "v2x/encoder/camera_config.hpp"
#include "v2x/encoder/camera_lift.hpp"
#include "v2x/encoder/config.hpp"
#include "v2x/encoder/lidar_detector.hpp"

namespace v2x::encoder {

inline constexpr const char* kCameraManifestFile = "camera_manifest.json";

// Camera model manifest: {"name", "weights_file", "detector": DetectorConfig, "camera": CameraBranchConfig,
// "training": {...}, "metrics": {...}, "git_commit", "created_utc"}.
nlohmann::ordered_json camera_config_to_json(const CameraBranchConfig& cfg);
// Architecture keys that differ between a manifest's JSON and the runtime's configs ("camera.lift: ..."),
// empty when the weights fit.
std::vector<std::string> camera_manifest_differences(const nlohmann::json& manifest, const DetectorConfig& det,
                                                     const CameraBranchConfig& cam);

struct CameraEncodeOutput {
  FeatureMap features;          // (C, H, W) + confidence (H, W) = max over anchors of sigmoid(cls)
  DetectionList detections;     // camera-only head, score > decode.score_threshold, after NMS
  std::vector<QueryProposal> proposals;  // fusion queries, as LidarDetector's (proposal_score_min, num_proposals)
  CameraInputStats cameras;     // used / dropped by reason, this frame
  std::uint8_t modality = 0;    // kModalityCamera when at least one camera was used
  double prepare_ms = 0, network_ms = 0, decode_ms = 0, total_ms = 0;
};

class CameraEncoder {
 public:
  // From a model folder with camera_manifest.json + weights. Throws std::runtime_error naming the file when it
  // cannot be read or when its architecture differs from (det, cam) (every differing key listed).
  CameraEncoder(const std::string& model_dir, const DetectorConfig& det, const CameraBranchConfig& cam);
  // With the manifest's own camera configuration (checked against `det`).
  CameraEncoder(const std::string& model_dir, const DetectorConfig& det);
  // Untrained, seeded initialisation (tests, benchmarks).
  static std::unique_ptr<CameraEncoder> untrained(const DetectorConfig& det, const CameraBranchConfig& cam,
                                                  std::uint64_t seed);
  ~CameraEncoder();
  CameraEncoder(const CameraEncoder&) = delete;
  CameraEncoder& operator=(const CameraEncoder&) = delete;

  // Camera-only perception of one agent-frame; never throws (a network failure is an Error).
  Expected<CameraEncodeOutput> encode(const std::vector<CameraFrame>& cameras, AgentId agent = 0,
                                      TimestampNs stamp_ns = 0);
  // LiDAR+camera agent: one map of the LiDAR map's shape (concat + 1×1 conv; initialised as the identity on the
  // LiDAR channels). Mismatched shapes or grids → Error (the caller keeps the LiDAR map and counts it).
  // The confidence is the LiDAR map's (the LiDAR head stays authoritative).
  Expected<FeatureMap> fuse(const FeatureMap& lidar, const FeatureMap& camera);

  // Whether the model folder has trained LiDAR+camera fusion weights (manifest has_fusion); without them fuse()
  // is the identity on the LiDAR map.
  bool has_fusion() const;
  const CameraBranchConfig& camera_config() const;
  const DetectorConfig& detector_config() const;
  const CameraInputStats& totals() const;  // every frame so far (the counted warnings)

 private:
  CameraEncoder();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The modality bits of an agent's message: LiDAR when its LiDAR map was used, camera when ≥ 1 camera was.
inline std::uint8_t modality_bits(bool lidar_used, bool camera_used) {
  return static_cast<std::uint8_t>((lidar_used ? kModalityLidar : 0) | (camera_used ? kModalityCamera : 0));
}

}  // namespace v2x::encoder
