#pragma once
// The runtime LiDAR detector: pillarize → learned encoder → BEV FeatureMap (C, H, W) + per-cell confidence,
// decoded detections (after rotated NMS) and proposals usable as fusion queries. LibTorch stays behind a
// pimpl, so users of this header do not compile torch headers.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "v2x/core/detection.hpp"
#include "v2x/core/expected.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/point_cloud.hpp"
#include "v2x/detection/anchors.hpp"
#include "v2x/detection/decoder.hpp"
#include "v2x/encoder/config.hpp"
#include "v2x/encoder/manifest.hpp"

namespace v2x::encoder {

// A local detection offered as a fusion query: the box, its score, the anchor cell it came from and the BEV
// feature vector bilinearly sampled from the FeatureMap at the box centre.
struct QueryProposal {
  detection::Proposal proposal;
  std::vector<float> feature;  // (C) float32
};

struct DetectorTimings {
  double pillarize_ms = 0, network_ms = 0, decode_ms = 0, total_ms = 0;
};

struct DetectorOutput {
  FeatureMap features;                   // (C, H, W) + confidence (H, W) = max over anchors of sigmoid(cls)
  DetectionList detections;              // score > decode.score_threshold, after NMS, ego LiDAR frame
  std::vector<QueryProposal> proposals;  // score > proposal_score_min, after NMS, ≤ num_proposals, best first
  DetectorTimings timings;
  bool empty_input = false;              // no usable point: zero detections, zero features (counted)
  std::size_t points_used = 0, points_invalid = 0, pillars = 0;
  detection::DecodeStats decode_stats;
};

class LidarDetector {
 public:
  // model: a model folder (with manifest.json) or a manifest file. Throws std::runtime_error naming the file
  // when the manifest or weights cannot be read, and when the manifest's architecture differs from `cfg`
  // (the message lists every differing key).
  LidarDetector(const std::string& model, const DetectorConfig& cfg);
  // Uses the manifest's own configuration (with its decode settings).
  explicit LidarDetector(const std::string& model);
  // Untrained weights (tests, benchmarks): random initialisation seeded by `seed`.
  static std::unique_ptr<LidarDetector> untrained(const DetectorConfig& cfg, std::uint64_t seed);
  ~LidarDetector();
  LidarDetector(const LidarDetector&) = delete;
  LidarDetector& operator=(const LidarDetector&) = delete;

  // One agent-frame. An empty or all-non-finite cloud yields an output with empty_input set, zero detections
  // and zero features (and counts a warning); an internal failure is returned as an Error, never thrown.
  Expected<DetectorOutput> run(const PointCloud& cloud, AgentId agent = 0, TimestampNs stamp_ns = 0);
  // The detection head alone on a map of this detector's shape (C, H, W) and grid, e.g. a LiDAR+camera map
  // (CameraEncoder::fuse): confidence, detections and proposals recomputed from that map. Wrong shape → Error.
  Expected<DetectorOutput> run_head(FeatureMap features);

  const DetectorConfig& config() const;
  const ModelManifest& manifest() const;  // empty name for untrained()
  std::int64_t empty_inputs() const;      // warnings counted so far
  std::int64_t failures() const;

 private:
  LidarDetector();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One sample's head outputs (cls (H, W, A), box (H, W, A, 7), dir (H, W, A, 2), channels-last float32) → the
// detections (score > cfg.decode.score_threshold, ≤ max_detections) and up to cfg.num_proposals proposals
// (score > proposal_score_min) with their features sampled from `features`, both after NMS, best first.
struct DecodedHead {
  std::vector<Detection> detections;
  std::vector<QueryProposal> proposals;
  detection::DecodeStats stats;
};
DecodedHead decode_detections(const DetectorConfig& cfg, const detection::AnchorGrid& anchors, const float* cls,
                              const float* box, const float* dir, const FeatureMap& features);

// Bilinear sample of every channel of `fm` at metric (x, y) in the map's frame; zeros outside the map.
std::vector<float> sample_features(const FeatureMap& fm, double x_m, double y_m);

}  // namespace v2x::encoder
