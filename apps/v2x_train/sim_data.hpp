#pragma once
// Training and validation samples generated on the fly by the simulator (no LibTorch here).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "v2x/core/frame.hpp"
#include "v2x/encoder/config.hpp"
#include "v2x/encoder/training.hpp"
#include "v2x/sim/config.hpp"
#include "v2x/sim/simulator.hpp"

namespace v2x::train {

// One simulator run: `frames` frames kept, one every `stride` steps, from Simulator(preset(name), seed).
struct SimJob {
  std::string preset;
  std::uint64_t seed = 0;
  int frames = 10;
  int stride = 2;
  bool compact_fleet = false;  // sim::make_fleet_compact: every CAV near the ego
};

// The job's simulator: its preset, made compact when asked; a compact fleet that the town cannot hold (no lane
// slots near the focus) falls back to the preset's spread fleet, with a line on stderr.
std::unique_ptr<sim::Simulator> make_job_simulator(const SimJob& job);

struct SampleOptions {
  // Training: every connected vehicle's view, GT = that agent's labels with ≥ min_points returns.
  // Validation (ego_only): the ego's view, GT = every vehicle of gt_world (occluded ones too), box_points = the
  // ego's returns in each box (0 when the ego's labels do not list it).
  bool ego_only = false;
  int min_points = 1;
  encoder::PillarConfig crop;  // clouds are cropped to this x/y range + margin to save memory
  double crop_margin_m = 8.0;
};

// Vehicle boxes of `frame` seen by `agent` (see SampleOptions), in the agent's LiDAR frame.
encoder::RawSample make_sample(const CoopFrame& frame, const AgentFrame& agent, const SampleOptions& opt);

// Runs the jobs on `threads` threads (one simulator per job): `configure` adjusts each job's preset before its
// simulator is built; `visit(job_index, frame)` gets every kept frame, from a worker thread (one thread per job
// at a time). With cameras enabled they are rendered for the kept frames only. Throws the first job's error.
void for_each_kept_frame(const std::vector<SimJob>& jobs, int threads,
                         const std::function<void(sim::SimConfig&)>& configure,
                         const std::function<void(std::size_t, CoopFrame&)>& visit,
                         const std::function<void(int, int)>& progress = {});

// Runs the jobs on `threads` threads; samples come back in job order, then frame order, then agent order
// (independent of the thread count). `progress(done_jobs, total_jobs)` is called from worker threads.
std::vector<encoder::RawSample> generate_sim_samples(const std::vector<SimJob>& jobs, const SampleOptions& opt,
                                                     int threads,
                                                     const std::function<void(int, int)>& progress = {});

// "1-40" → {1..40}; "3,5,9-11" → {3,5,9,10,11}. Throws std::invalid_argument on bad syntax.
std::vector<std::uint64_t> parse_seed_list(const std::string& s);

}  // namespace v2x::train
