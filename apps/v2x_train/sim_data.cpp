#include "sim_data.hpp"

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace v2x::train {

encoder::RawSample make_sample(const CoopFrame& frame, const AgentFrame& agent, const SampleOptions& opt) {
  encoder::RawSample s;
  s.frame = frame.scenario + "/" + frame.timestamp + "/" + std::to_string(agent.id);
  s.cloud = agent.cloud;
  encoder::crop_to_range(s.cloud, opt.crop, opt.crop_margin_m);
  const Pose T_lidar_world = agent.T_world_lidar.inverse();
  if (opt.ego_only) {
    std::map<std::int64_t, int> points;
    for (const auto& o : agent.labels_world) points[o.id] = o.lidar_points;
    for (const auto& o : frame.gt_world) {
      if (!is_vehicle(o.cls)) continue;
      if (o.id >= 0 && o.id == static_cast<std::int64_t>(agent.id)) continue;  // the ego's own vehicle
      s.boxes.push_back(o.box.transformed(T_lidar_world));
      auto it = points.find(o.id);
      s.box_points.push_back(it == points.end() ? 0 : it->second);
    }
  } else {
    for (const auto& o : agent.labels_world) {
      if (!is_vehicle(o.cls) || o.lidar_points < opt.min_points) continue;
      s.boxes.push_back(o.box.transformed(T_lidar_world));
      s.box_points.push_back(o.lidar_points);
    }
  }
  return s;
}

std::unique_ptr<sim::Simulator> make_job_simulator(const SimJob& job) {
  const sim::SimConfig c = sim::preset(job.preset);
  if (job.compact_fleet) {
    sim::SimConfig compact = c;
    sim::make_fleet_compact(compact);
    try {
      return std::make_unique<sim::Simulator>(compact, job.seed);
    } catch (const ConfigError& e) {
      std::fprintf(stderr, "simulator job %s seed %llu: no compact fleet (%s); the preset's fleet instead\n",
                   job.preset.c_str(), static_cast<unsigned long long>(job.seed), e.what());
    }
  }
  return std::make_unique<sim::Simulator>(c, job.seed);
}

void for_each_kept_frame(const std::vector<SimJob>& jobs, int threads,
                         const std::function<void(sim::SimConfig&)>& configure,
                         const std::function<void(std::size_t, CoopFrame&)>& visit,
                         const std::function<void(int, int)>& progress) {
  std::atomic<std::size_t> next{0};
  std::atomic<int> done{0};
  std::mutex err_mu;
  std::string error;
  auto worker = [&] {
    for (;;) {
      const std::size_t j = next.fetch_add(1);
      if (j >= jobs.size()) return;
      try {
        const SimJob& job = jobs[j];
        sim::SimConfig sc = sim::preset(job.preset);
        if (job.compact_fleet) sim::make_fleet_compact(sc);
        if (configure) configure(sc);
        const bool cameras = sc.agents.cameras.enabled;
        sim::Simulator simulator(sc, job.seed);
        const int stride = std::max(1, job.stride);
        for (int f = 0; f < job.frames; ++f) {
          CoopFrame frame;
          for (int k = 0; k < stride; ++k) {
            if (cameras) simulator.set_cameras_enabled(k == stride - 1);  // skipped steps need no pictures
            frame = simulator.step();
          }
          visit(j, frame);
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lk(err_mu);
        if (error.empty()) error = "simulator job " + jobs[j].preset + " seed " + std::to_string(jobs[j].seed) + ": " + e.what();
      }
      const int d = ++done;
      if (progress) progress(d, static_cast<int>(jobs.size()));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (!error.empty()) throw std::runtime_error(error);
}

std::vector<encoder::RawSample> generate_sim_samples(const std::vector<SimJob>& jobs, const SampleOptions& opt,
                                                     int threads, const std::function<void(int, int)>& progress) {
  std::vector<std::vector<encoder::RawSample>> per_job(jobs.size());
  for_each_kept_frame(
      jobs, threads, {},
      [&](std::size_t j, CoopFrame& frame) {
        for (const auto& a : frame.agents) {
          if (a.is_rsu) continue;  // the encoder is trained for vehicle-mounted LiDARs (see docs/training.md)
          if (opt.ego_only && a.id != frame.ego) continue;
          per_job[j].push_back(make_sample(frame, a, opt));
        }
      },
      progress);
  std::vector<encoder::RawSample> out;
  for (auto& v : per_job)
    for (auto& s : v) out.push_back(std::move(s));
  return out;
}

std::vector<std::uint64_t> parse_seed_list(const std::string& s) {
  std::vector<std::uint64_t> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    const std::string item = s.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    const auto dash = item.find('-');
    try {
      if (dash == std::string::npos) {
        out.push_back(std::stoull(item));
      } else {
        const auto a = std::stoull(item.substr(0, dash)), b = std::stoull(item.substr(dash + 1));
        if (b < a) throw std::invalid_argument("descending range");
        for (auto x = a; x <= b; ++x) out.push_back(x);
      }
    } catch (const std::exception&) {
      throw std::invalid_argument("bad seed list '" + s + "' (use e.g. 1-40 or 3,5,9-11)");
    }
  }
  return out;
}

}  // namespace v2x::train
