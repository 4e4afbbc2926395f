#pragma once
// Replay evaluation (v2x_replay --fusion ...): every connected agent of every frame of a dataset runs a
// NodeRuntime in one thread; the ego's fused detections are evaluated with detection/'s OpenCOOD-protocol AP.
//
// Per frame (frames in dataset order; a new scenario starts fresh runtimes, caches and transports):
//  1. transport clock := frame stamp; every agent produces from its own cloud and the pose it *believes*:
//     its true T_world_lidar perturbed by ReplayConfig::pose_noise (x/y and yaw Gaussians, seeded per
//     (seed, frame index, agent id); the ego is perturbed too, as in OpenCOOD's noise setting).
//  2. Message age (ReplayConfig::latency_ms): messages travel through comm's ChannelTransport with that one-way
//     latency on the dataset clock; the ego reads what has arrived by its own frame stamp. With 10 Hz frames and
//     100 ms the ego fuses the peers' previous frame (OpenCOOD's time-delay setting); the first frame of a
//     scenario then has no peer data (nothing has arrived yet), and single-frame scenarios (a DAIR pair) run ego
//     only. latency 0: InProcessTransport, same-frame messages.
//  3. The ego consumes (decode, cache, fuse) and its DetectionList is evaluated against the GT: the frame's
//     gt_world, vehicles only, in the ego's TRUE LiDAR frame, range-filtered by the evaluator (EvalConfig).
//     A second evaluator counts only GT with ≥ min_lidar_points returns of the ego's own cloud (report extra).
// Bytes per message are counted where sent, over every agent's messages; stage latencies are the ego's.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "v2x/apps/node_config.hpp"
#include "v2x/apps/node_runtime.hpp"
#include "v2x/detection/report.hpp"
#include "v2x/sensors/dataset.hpp"

namespace v2x::apps {

struct ReplayResources {
  std::shared_ptr<Perception> perception;  // shared by every agent (one model in memory)
  // Makes the ego's fuser (called once per scenario); must return a fuser of cfg.node.fusion.
  std::function<std::unique_ptr<fusion::Fuser>()> make_fuser;
};

struct ReplayOutputs {
  std::string report_path;  // --report (empty: not written)
  std::string dump_path;    // --dump  (empty: not written)
  std::string viz_dir;      // --viz   (empty: no pictures): one BEV PNG per ego frame
  bool progress = true;     // progress bar with ETA on stderr
  std::string dataset_name; // recorded in the report's extra
};

// Tells the fusers the localisation error the replay applies, as a localisation system reports its covariance:
// node.fusion_config.align's pose sigmas (vehicles and RSUs: the replay perturbs both alike) := pose_noise. The
// anchor fusion's uncertainty encoding then sees 0 on exact poses and σ under noise, and its merge rule treats
// fresh peers with exact poses as exact (fusion/config.hpp). Call before building the fusers from cfg.node.
void set_fusion_pose_sigmas(ReplayConfig& cfg);

// Runs the replay and returns the report (also written to outputs.report_path). Frames that fail to load are
// skipped and counted (extra.frames_skipped). Throws std::runtime_error / ConfigError on setup errors only.
detection::EvalReport run_replay(const sensors::CoopDataset& dataset, const ReplayConfig& cfg,
                                 const ReplayResources& res, const ReplayOutputs& outputs);

// The pose an agent believes: T_world_lidar with x/y shifted by N(0, xy_m) and yaw rotated by N(0, yaw_deg)
// (about the world z axis), from an Rng forked with (frame_index, agent).
Pose believed_pose(const Pose& T_world_lidar, const PoseNoiseConfig& noise, std::uint64_t seed,
                   std::uint64_t frame_index, AgentId agent);

// LiDAR returns of `cloud` inside each box (same frame).
std::vector<int> count_points_in_boxes(const PointCloud& cloud, const std::vector<Box3D>& boxes);

// BEV picture of one ego frame: points (grey), GT (green), detections (red, with scores); 10 px per metre over
// the evaluation range. Written atomically as PNG.
void write_bev_png(const std::string& file, const PointCloud& cloud, const std::vector<Box3D>& gt,
                   const std::vector<Detection>& detections, const std::array<double, 6>& range);

}  // namespace v2x::apps
