#pragma once
// Typed configuration of one node (NodeRuntime) and of a replay evaluation (v2x_replay --fusion ...).
// YAML kinds: config/node/*.yaml → NodeConfig, config/replay/*.yaml → ReplayConfig (apps/common/src/config_registry.cpp).
// Torch-free on purpose: the ASan build (V2X_WITH_TORCH=OFF) validates every file under config/ too, so only
// torch-free headers are included here (fusion/'s Fuser interface and FusionConfig are header-only).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "v2x/core/config.hpp"
#include "v2x/core/sensor_set.hpp"
#include "v2x/core/sparse_features.hpp"
#include "v2x/core/types.hpp"
#include "v2x/detection/evaluation.hpp"
#include "v2x/fusion/config.hpp"
#include "v2x/fusion/fuser.hpp"
#include "v2x/selection/peer_cell_cache.hpp"
#include "v2x/selection/selection_config.hpp"

namespace v2x::apps {

// How a node's messages travel (wire format v1, docs/wire-format.md) and when peers' messages are accepted.
struct NodeCommConfig {
  int mtu_bytes = 0;                // > 0: a message is split into wire-v1 fragments of at most this many bytes
  bool lz4 = true;                  // compress message bodies when that makes them smaller
  double deadline_ms = 50.0;        // live nodes: consume() polls until frame stamp + deadline_ms
  double max_message_age_ms = 500;  // a peer message older than this (vs. the ego frame stamp) is stale: dropped
  double max_future_ms = 50;        // a peer message stamped more than this after the ego frame: dropped ("future")
  std::uint64_t max_points = 300000;  // early fusion: raw points sent at most per message (even subsample beyond)
  template <class V>
  void visit(V& v) {
    v("mtu_bytes", mtu_bytes, Range{0, 1 << 24});
    v("lz4", lz4);
    v("deadline_ms", deadline_ms, Range{0, 60000});
    v("max_message_age_ms", max_message_age_ms, Range{0, 3.6e6});
    v("max_future_ms", max_future_ms, Range{0, 3.6e6});
    v("max_points", max_points, Range{1, 1e8});
  }
};

// One agent: which detector and fusion it runs, what it sends (selection under a byte budget, quantization in
// selection.budget.quant) and how it receives.
struct NodeConfig {
  AgentId agent_id = 0;           // replay: taken from the dataset (this field is ignored there)
  bool is_rsu = false;            // replay: taken from the dataset
  std::string model_dir = "data/models/detector";  // LidarDetector weights + manifest (encoder/)
  // Camera branch (encoder::CameraEncoder: camera_manifest.json + weights); empty: cameras are ignored. Its
  // detector block must match model_dir's architecture (same grid and channels).
  std::string camera_model_dir;
  SensorSet sensors = SensorSet::Auto;  // which of the frame's sensors this agent uses (`none`: replay only)
  fusion::FusionMethod fusion = fusion::FusionMethod::None;
  fusion::FusionConfig fusion_config;  // alignment checks, late/dense/anchor parameters, output NMS
  std::string fusion_model_dir;   // weights + manifest of the learned fusers (attn, anchor)
  selection::SelectionConfig selection;
  selection::PeerCacheConfig peer_cache;
  NodeCommConfig comm;
  std::vector<int> allowed_peers;  // non-empty: messages from other senders are dropped as unauthenticated
  int num_threads = 2;            // LibTorch intra-op threads

  template <class V>
  void visit(V& v) {
    v("agent_id", agent_id, Range{-2147483647.0, 2147483647.0});
    v("is_rsu", is_rsu);
    v("model_dir", model_dir);
    v("camera_model_dir", camera_model_dir);
    v("sensors", sensors);
    v("fusion", fusion);
    v("fusion_config", fusion_config);
    v("fusion_model_dir", fusion_model_dir);
    v("selection", selection);
    v("peer_cache", peer_cache);
    v("comm", comm);
    v("allowed_peers", allowed_peers, Range{-2147483647.0, 2147483647.0});
    v("num_threads", num_threads, Range{1, 256});
  }
  void check(const std::string& file) const;
};

// Localisation error each agent believes in its own pose: x/y Gaussian (metres) and yaw Gaussian (degrees),
// seeded per (seed, frame, agent). OpenCOOD's default noise setting is σ = 0.2 m / 0.2°.
struct PoseNoiseConfig {
  double xy_m = 0.0;
  double yaw_deg = 0.0;
  template <class V>
  void visit(V& v) {
    v("xy_m", xy_m, Range{0, 100});
    v("yaw_deg", yaw_deg, Range{0, 180});
  }
};

// A replay evaluation: every connected agent of every frame runs a NodeRuntime in one process; the ego's
// fused detections are evaluated against the ground truth in the ego LiDAR frame.
struct ReplayConfig {
  NodeConfig node;                  // used by every agent (agent_id / is_rsu come from the dataset)
  PoseNoiseConfig pose_noise;
  // Message age: peers' messages travel through the channel model with this one-way latency on the dataset's
  // clock, and the ego reads what has arrived by its frame stamp, so at 10 Hz and 100 ms it fuses the peers'
  // previous frame (OpenCOOD's "time delay" setting). 0: in-process transport, same-frame messages.
  double latency_ms = 0.0;
  std::uint64_t seed = 1;
  detection::EvalConfig eval;
  int min_lidar_points = 10;        // extra metric: AP over GT with at least this many ego LiDAR returns
  std::int64_t max_frames = 0;      // 0: all frames of the dataset
  // Heterogeneous fleet: sensors[k] for the k-th candidate agent of a scenario in the dataset's load order
  // (`v2x_replay --list` order; simulator datasets: connected vehicles, ego first, then RSUs), whether or not it is
  // in range in a given frame; agents beyond the list use node.sensors. `none` leaves an agent out (it neither
  // senses nor sends); the ego cannot be `none`.
  std::vector<SensorSet> sensors;
  template <class V>
  void visit(V& v) {
    v("node", node);
    v("pose_noise", pose_noise);
    v("latency_ms", latency_ms, Range{0, 60000});
    v("seed", seed);
    v("eval", eval);
    v("min_lidar_points", min_lidar_points, Range{0, 1000000});
    v("max_frames", max_frames, Range{0, 1e12});
    v("sensors", sensors);
  }
  void check(const std::string& file) const;
};

// Quantization for a bit width on the command line (32, 16, 8, 4); throws std::invalid_argument otherwise.
Quantization quantization_from_bits(int bits);
int bits_of(Quantization q);

}  // namespace v2x::apps
