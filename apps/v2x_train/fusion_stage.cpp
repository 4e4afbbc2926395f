#include "fusion_stage.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "args.hpp"
#include "sim_data.hpp"
#include "v2x/detection/evaluation.hpp"
#include "v2x/fusion/fusers.hpp"
#include "v2x/fusion/model_io.hpp"
#include "v2x/fusion/training.hpp"
#include "v2x/sim/simulator.hpp"

namespace v2x::train {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Config struct (visit) → JSON, for the manifest.
struct JsonVisitor {
  nlohmann::ordered_json* j;
  template <class T>
  void operator()(std::string_view key, T& v, Range = {}) {
    (*j)[std::string(key)] = to_json(v);
  }
  template <class T>
  static nlohmann::ordered_json to_json(T& v) {
    if constexpr (std::is_enum_v<T>) {
      return std::string(enum_name(v));
    } else if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
      return v;
    } else if constexpr (requires(JsonVisitor& jv) { v.visit(jv); }) {
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      JsonVisitor jv{&o};
      v.visit(jv);
      return o;
    } else {
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (auto& x : v) a.push_back(to_json(x));
      return a;
    }
  }
};
template <class Cfg>
nlohmann::ordered_json cfg_json(Cfg c) {
  return JsonVisitor::to_json(c);
}

Quantization parse_quant(const std::string& s) {
  const auto& n = EnumNames<Quantization>::names;
  for (std::size_t i = 0; i < n.size(); ++i)
    if (n[i] == s) return static_cast<Quantization>(i);
  throw ArgError("--quant: '" + s + "' (choose fp32|fp16|int8|int4)");
}

// One sender's message at one time (made once, in time order, so temporal selectors see a proper sequence).
struct SentMessage {
  fusion::AgentObservation obs;  // the sender's perception at its stamp (ego use needs the map/proposals)
  fusion::PeerInput msg;         // as delivered (age filled in per receiver)
};

struct JobState {
  std::deque<std::vector<SentMessage>> history;  // history[0] = newest frame; per agent in frame order
  std::map<AgentId, std::unique_ptr<selection::Selector>> selectors;
};

struct EvalFrame {
  fusion::AgentObservation ego;
  Pose ego_pose_believed;               // noisy setting (the clean setting uses ego.T_world_lidar)
  std::vector<fusion::PeerInput> peers;        // noisy setting: σ 0.2 m / 0.2° on every pose, 100 ms
  std::vector<fusion::PeerInput> peers_clean;  // clean setting: exact poses, same-frame messages
  std::vector<Object3D> gt;  // ego frame (true pose), lidar_points over all agents
};

struct FrameItem {
  int job = 0;
  int index = 0;
  CoopFrame frame;
};

// Runs the simulator jobs on worker threads and hands frames to `consume` on the calling thread, each job's
// frames in order (one worker per job). Bounded queue: simulation runs ahead of the GPU by at most `depth`.
void for_each_sim_frame(const std::vector<SimJob>& jobs, int threads, int skip_frames,
                        const std::function<void(FrameItem&)>& consume) {
  std::mutex mu;
  std::condition_variable cv_put, cv_get;
  std::deque<FrameItem> queue;
  const std::size_t depth = static_cast<std::size_t>(std::max(4, 2 * threads));
  std::size_t next_job = 0;
  int running = 0;
  std::exception_ptr err;
  auto worker = [&] {
    for (;;) {
      std::size_t j;
      {
        std::lock_guard<std::mutex> lk(mu);
        if (next_job >= jobs.size() || err) break;
        j = next_job++;
      }
      try {
        const auto sp = make_job_simulator(jobs[j]);
        sim::Simulator& s = *sp;
        for (int k = 0; k < skip_frames; ++k) s.step();
        for (int k = 0; k < jobs[j].frames; ++k) {
          FrameItem it{static_cast<int>(j), k, s.step()};
          std::unique_lock<std::mutex> lk(mu);
          cv_put.wait(lk, [&] { return queue.size() < depth || err; });
          if (err) return;
          queue.push_back(std::move(it));
          cv_get.notify_one();
        }
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu);
        if (!err) err = std::current_exception();
        cv_get.notify_all();
        cv_put.notify_all();
        return;
      }
    }
    std::lock_guard<std::mutex> lk(mu);
    --running;
    cv_get.notify_all();
  };
  std::vector<std::thread> pool;
  running = std::max(1, threads);
  for (int t = 0; t < running; ++t) pool.emplace_back(worker);
  for (;;) {
    FrameItem it;
    {
      std::unique_lock<std::mutex> lk(mu);
      cv_get.wait(lk, [&] { return !queue.empty() || running == 0 || err; });
      if (err) break;
      if (queue.empty() && running == 0) break;
      // Prefer the oldest frame of any job; order within a job is preserved by the single worker per job.
      it = std::move(queue.front());
      queue.pop_front();
      cv_put.notify_one();
    }
    consume(it);
  }
  {
    std::lock_guard<std::mutex> lk(mu);
    if (!err) running = 0;
  }
  cv_put.notify_all();
  for (auto& t : pool) t.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace

bool wants_fusion_stage(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--stage=fusion") return true;
    if (a == "--stage" && i + 1 < argc && std::string(argv[i + 1]) == "fusion") return true;
  }
  return false;
}

int run_fusion_stage(int argc, const char* const* argv) {
  Args args;
  args.option("stage", "fusion", "training stage (this is the fusion stage)")
      .option("detector", "", "single-agent detector model folder (data/models/<name>), frozen")
      .option("out", "", "output folder for the fusion model (data/models/<name>)")
      .option("name", "anchor_fusion", "model name written to the manifest")
      .option("presets", "urban,suburban,highway", "simulator presets for training (cycled over the seeds)")
      .option("train-seeds", "1-24", "training simulator seeds")
      .option("val-presets", "urban,suburban", "simulator presets for validation")
      .option("val-seeds", "9001-9004", "held-out validation seeds (never used in training)")
      .option("frames", "40", "frames per training simulator run (100 ms apart)")
      .option("val-frames", "30", "frames per validation run")
      .option("skip-frames", "3", "frames simulated and dropped at the start of each run")
      .option("steps", "3000", "optimisation steps at most")
      .option("train-minutes", "4", "wall-clock limit of the optimisation phase")
      .option("batch-frames", "8", "ego frames per step")
      .option("lr", "0.001", "AdamW learning rate")
      .option("budget-bytes", "16384", "per-message byte budget of the simulated selector")
      .option("selector", "top_k", "simulated selector: top_k|conformal")
      .option("quant", "int8", "simulated wire quantization: fp32|fp16|int8|int4")
      .option("max-latency-frames", "2", "message age augmentation: 0..N frames (100 ms each)")
      .option("clean-fraction", "0.3", "share of training samples with exact poses and same-frame messages")
      .option("quality-scores", "1", "1: score targets = IoU of the refined box (quality focal loss); 0: binary")
      .option("compact-share", "0.5", "share of the training runs with a compact fleet (every CAV near the ego)")
      .option("val-compact", "1", "1: validation runs use compact fleets (the held-out split of the comparison)")
      .option("attn-every", "3", "keep the dense maps for AttFuse training on every N-th sample (0 = no attn)")
      .option("device", "auto", "auto|cpu|cuda")
      .option("threads", "0", "simulator threads (0 = hardware concurrency - 1)")
      .option("seed", "1", "seed of noise, shuffling and initialisation")
      .option("checkpoint-dir", "", "write a checkpoint every 500 steps to <dir>/checkpoint (e.g. $OUT on the GPU machine)")
      .option("git-commit", "", "git commit recorded in the manifest")
      .option("log-every", "50", "print the loss every N steps")
      .flag("help", "show this help");
  try {
    args.parse(argc, argv);
  } catch (const ArgError& e) {
    std::fprintf(stderr, "v2x_train: %s\n", e.what());
    return 2;
  }
  if (args.flag_on("help")) {
    std::printf("v2x_train --stage fusion: train the fusion networks\n%s", args.help().c_str());
    return 0;
  }
  try {
    if (args.str("detector").empty() || args.str("out").empty()) throw ArgError("--detector and --out are required");
    const auto t_start = Clock::now();
    torch::Device device(torch::kCPU);
    const std::string dev = args.str("device");
    if (dev == "cuda" || (dev == "auto" && torch::cuda::is_available())) device = torch::Device(torch::kCUDA);
    else if (dev != "cpu" && dev != "auto") throw ArgError("--device: '" + dev + "'");
    int threads = static_cast<int>(args.integer("threads"));
    if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - 1);
    const std::uint64_t seed = static_cast<std::uint64_t>(args.integer("seed"));
    torch::manual_seed(seed);

    auto det = fusion::NetDetector::from_model(args.str("detector"), device);
    for (auto& p : det->net()->parameters()) p.requires_grad_(false);
    const auto& dcfg = det->config();
    const int C = det->channels();
    const BevGrid grid = det->feature_grid();
    detection::TargetAssigner assigner(dcfg.anchor_config(), dcfg.assign, dcfg.coder);

    fusion::FusionConfig fcfg;
    validate_config(fcfg);
    fusion::FusionTrainConfig tcfg;
    tcfg.budget_bytes = static_cast<int>(args.integer("budget-bytes"));
    tcfg.quant = parse_quant(args.str("quant"));
    tcfg.selector = args.str("selector") == "conformal" ? fusion::TrainSelector::Conformal : fusion::TrainSelector::TopK;
    if (args.str("selector") != "conformal" && args.str("selector") != "top_k") throw ArgError("--selector: top_k|conformal");
    tcfg.max_latency_frames = static_cast<int>(args.integer("max-latency-frames"));
    tcfg.clean_fraction = args.number("clean-fraction");
    tcfg.quality_scores = args.integer("quality-scores") != 0;
    const double compact_share = args.number("compact-share");
    if (!(compact_share >= 0 && compact_share <= 1)) throw ArgError("--compact-share: a fraction in [0, 1]");
    tcfg.steps = static_cast<int>(args.integer("steps"));
    tcfg.batch_frames = static_cast<int>(args.integer("batch-frames"));
    tcfg.lr = args.number("lr");
    tcfg.seed = seed;
    const int attn_every = static_cast<int>(args.integer("attn-every"));
    tcfg.train_attn = attn_every > 0;
    validate_config(tcfg, "v2x_train --stage fusion");

    // Job i is compact when the running share floor((i + 1) · share) steps up at i (evenly spread over presets and seeds).
    auto make_jobs = [&](const std::vector<std::string>& presets, const std::string& seeds, int frames, double share) {
      std::vector<SimJob> jobs;
      const auto ss = parse_seed_list(seeds);
      for (std::size_t i = 0; i < ss.size(); ++i) {
        const bool compact = std::floor((i + 1) * share) > std::floor(i * share);
        jobs.push_back(SimJob{presets[i % presets.size()], ss[i], frames, 1, compact});
      }
      return jobs;
    };
    const auto train_jobs =
        make_jobs(args.list("presets"), args.str("train-seeds"), static_cast<int>(args.integer("frames")), compact_share);
    const auto val_jobs = make_jobs(args.list("val-presets"), args.str("val-seeds"),
                                    static_cast<int>(args.integer("val-frames")), args.integer("val-compact") ? 1.0 : 0.0);
    const int skip = static_cast<int>(args.integer("skip-frames"));

    // ---- frames → frozen detector → messages → samples ----
    Rng rng(seed);
    auto process = [&](FrameItem& item, std::map<int, JobState>& states, bool train,
                       const std::function<void(const CoopFrame&, const std::vector<SentMessage>&, std::size_t ego_idx,
                                                JobState&)>& per_ego) {
      JobState& st = states[item.job];
      const CoopFrame& f = item.frame;
      std::vector<const PointCloud*> clouds;
      std::vector<AgentId> ids;
      std::vector<TimestampNs> stamps;
      for (const auto& a : f.agents) clouds.push_back(&a.cloud), ids.push_back(a.id), stamps.push_back(a.stamp_ns);
      auto perc = det->perceive_batch(clouds, ids, stamps);
      std::vector<SentMessage> now;
      for (std::size_t i = 0; i < f.agents.size(); ++i) {
        const auto& a = f.agents[i];
        SentMessage m;
        m.obs = fusion::AgentObservation{a.id, a.is_rsu, a.stamp_ns, a.T_world_lidar, std::move(perc[i])};
        auto& sel = st.selectors[a.id];
        if (!sel) sel = fusion::make_train_selector(tcfg);
        // The exact pose here; each ego sample perturbs the poses of its peers' messages with its own σ.
        m.msg = fusion::make_peer_input(m.obs, *sel, tcfg.quant, a.T_world_lidar, a.stamp_ns,
                                        static_cast<std::uint32_t>(item.index));
        now.push_back(std::move(m));
      }
      st.history.push_front(std::move(now));
      while (static_cast<int>(st.history.size()) > tcfg.max_latency_frames + 1) st.history.pop_back();
      for (std::size_t e = 0; e < f.agents.size(); ++e) {
        if (f.agents[e].is_rsu) continue;
        if (!train && f.agents[e].id != f.ego) continue;
        per_ego(f, st.history.front(), e, st);
      }
    };

    std::vector<fusion::FusionSample> samples;
    std::vector<std::uint64_t> sample_keys;  // (job, frame, ego): samples are sorted by it (thread-order independent)
    std::size_t sample_counter = 0;
    std::int64_t item_key = 0;
    std::map<int, JobState> train_states;
    const auto t_data = Clock::now();
    std::size_t frames_done = 0;
    for_each_sim_frame(train_jobs, threads, skip, [&](FrameItem& item) {
      item_key = static_cast<std::int64_t>(item.job) * 100000 + item.index;
      process(item, train_states, true,
              [&](const CoopFrame& f, const std::vector<SentMessage>& now, std::size_t e, JobState& st) {
                Rng r = rng.fork(0x5eed0000ull + static_cast<std::uint64_t>(item_key) * 8u + e);
                const auto& ego = now[e].obs;
                // One σ for every pose of the sample (the replay's setting), told to the fusion as its input.
                const bool clean = r.uniform(0, 1) < tcfg.clean_fraction;
                const double sp = clean ? 0.0 : r.uniform(0, tcfg.pose_sigma_max_m);
                const double sy = clean ? 0.0 : r.uniform(0, tcfg.yaw_sigma_max_deg);
                fusion::FusionConfig scfg = fcfg;
                scfg.align.pose_sigma_m = scfg.align.rsu_pose_sigma_m = sp;
                scfg.align.pose_sigma_yaw_deg = sy;
                const Pose ego_believed = fusion::perturb_pose(ego.T_world_lidar, sp, sy, r);
                std::vector<fusion::PeerInput> peers;
                for (std::size_t j = 0; j < now.size(); ++j) {
                  if (j == e) continue;
                  const int k = clean ? 0
                                      : std::min<int>(r.uniform_int(0, tcfg.max_latency_frames),
                                                      static_cast<int>(st.history.size()) - 1);
                  if (j >= st.history[k].size() || st.history[k][j].obs.id != now[j].obs.id) continue;
                  fusion::PeerInput p = st.history[k][j].msg;
                  p.msg.T_world_lidar = fusion::perturb_pose(p.msg.T_world_lidar, sp, sy, r);
                  p.age_ns = ego.stamp_ns - st.history[k][j].obs.stamp_ns;
                  peers.push_back(std::move(p));
                }
                fusion::EgoInput in;
                in.id = ego.id;
                in.stamp_ns = ego.stamp_ns;
                in.T_world_lidar = ego_believed;
                in.features = &ego.perception.map;
                in.local = &ego.perception.local;
                in.proposals = &ego.perception.proposals;
                const auto gt = fusion::gt_in_agent_frame(f, ego.T_world_lidar, grid, tcfg.gt_min_points);
                const bool dense = attn_every > 0 && sample_counter % static_cast<std::size_t>(attn_every) == 0;
                samples.push_back(fusion::make_fusion_sample(in, peers, gt, scfg, tcfg, dense ? &assigner : nullptr));
                sample_keys.push_back(static_cast<std::uint64_t>(item_key) * 8u + e);
                ++sample_counter;
              });
      if (++frames_done % 50 == 0)
        std::printf("[fusion] data: %zu frames, %zu samples, %.0f s\n", frames_done, samples.size(), seconds_since(t_data));
      std::fflush(stdout);
    });
    {
      std::vector<std::size_t> idx(samples.size());
      std::iota(idx.begin(), idx.end(), 0);
      std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return sample_keys[a] < sample_keys[b]; });
      std::vector<fusion::FusionSample> sorted;
      sorted.reserve(samples.size());
      for (std::size_t i : idx) sorted.push_back(std::move(samples[i]));
      samples = std::move(sorted);
    }
    const double data_s = seconds_since(t_data);
    std::printf("[fusion] training data: %zu frames → %zu ego samples in %.1f s\n", frames_done, samples.size(), data_s);

    std::vector<EvalFrame> val;
    std::vector<std::int64_t> val_keys;
    std::map<int, JobState> val_states;
    for_each_sim_frame(val_jobs, threads, skip, [&](FrameItem& item) {
      const std::int64_t vkey = static_cast<std::int64_t>(item.job) * 100000 + item.index;
      Rng vr = Rng(seed ^ 0xabcdefull).fork(static_cast<std::uint64_t>(vkey));
      process(item, val_states, false,
              [&](const CoopFrame& f, const std::vector<SentMessage>& now, std::size_t e, JobState& st) {
                // Evaluation setting: σ = 0.2 m / 0.2° on every pose, 100 ms (one frame) message age.
                EvalFrame ef;
                ef.ego = now[e].obs;
                ef.ego_pose_believed = fusion::perturb_pose(ef.ego.T_world_lidar, 0.2, 0.2, vr);
                const int k = std::min<int>(1, static_cast<int>(st.history.size()) - 1);
                for (std::size_t j = 0; j < now.size(); ++j) {
                  if (j == e) continue;
                  ef.peers_clean.push_back(now[j].msg);  // age 0
                  if (j >= st.history[k].size()) continue;
                  fusion::PeerInput p = st.history[k][j].msg;
                  p.msg.T_world_lidar = fusion::perturb_pose(p.msg.T_world_lidar, 0.2, 0.2, vr);
                  p.age_ns = ef.ego.stamp_ns - st.history[k][j].obs.stamp_ns;
                  ef.peers.push_back(std::move(p));
                }
                const Pose T_lidar_world = ef.ego.T_world_lidar.inverse();
                for (const auto& o : f.gt_world) {
                  if (!is_vehicle(o.cls)) continue;
                  Object3D g = o;
                  g.box = o.box.transformed(T_lidar_world);
                  ef.gt.push_back(g);
                }
                val.push_back(std::move(ef));
                val_keys.push_back(vkey);
              });
    });
    {
      std::vector<std::size_t> idx(val.size());
      std::iota(idx.begin(), idx.end(), 0);
      std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return val_keys[a] < val_keys[b]; });
      std::vector<EvalFrame> sorted;
      for (std::size_t i : idx) sorted.push_back(std::move(val[i]));
      val = std::move(sorted);
    }
    std::printf("[fusion] validation: %zu ego frames\n", val.size());

    // ---- optimisation ----
    fusion::FusionTrainer trainer(fcfg, tcfg, C, device);
    const double train_limit_s = 60.0 * args.number("train-minutes");
    const int log_every = std::max(1, static_cast<int>(args.integer("log-every")));
    std::vector<std::size_t> order(samples.size());
    std::iota(order.begin(), order.end(), 0);
    std::size_t cursor = order.size();
    Rng shuffle_rng(seed ^ 0x1234ull);
    const auto t_train = Clock::now();
    int step = 0;
    double ema = 0;
    std::vector<double> loss_log;
    const std::string ckpt = args.str("checkpoint-dir");
    auto save_to = [&](const std::string& dir, const nlohmann::json& manifest) {
      trainer.anchor()->to(torch::kCPU);
      trainer.attn()->to(torch::kCPU);
      fusion::save_fusion_model(dir, trainer.anchor(), tcfg.train_attn ? &trainer.attn() : nullptr, fcfg.anchor, C, grid,
                                manifest);
      trainer.anchor()->to(device);
      trainer.attn()->to(device);
    };
    double first_loss = -1;
    while (!samples.empty() && step < tcfg.steps && seconds_since(t_train) < train_limit_s) {
      std::vector<fusion::FusionSample> batch;
      for (int b = 0; b < tcfg.batch_frames; ++b) {
        if (cursor >= order.size()) {
          for (std::size_t i = order.size(); i > 1; --i)
            std::swap(order[i - 1], order[static_cast<std::size_t>(shuffle_rng.next_u64() % i)]);
          cursor = 0;
        }
        batch.push_back(samples[order[cursor++]]);
      }
      const auto r = trainer.step(batch, tcfg.train_attn ? det.get() : nullptr);
      ema = step == 0 ? r.anchor_loss : 0.98 * ema + 0.02 * r.anchor_loss;
      if (first_loss < 0) first_loss = r.anchor_loss;
      ++step;
      if (step % log_every == 0 || step == 1) {
        std::printf("[fusion] step %d  anchor %.4f (score %.4f box %.4f, ema %.4f)  attn %.4f  queries %d  %.0f s\n", step,
                    r.anchor_loss, r.anchor_score, r.anchor_box, ema, r.attn_loss, r.queries, seconds_since(t_train));
        std::fflush(stdout);
        loss_log.push_back(ema);
      }
      if (!ckpt.empty() && step % 500 == 0) save_to(ckpt + "/checkpoint", nlohmann::json{{"step", step}, {"ema_loss", ema}});
    }
    const double train_s = seconds_since(t_train);
    std::printf("[fusion] %d steps in %.1f s, loss %.4f → ema %.4f\n", step, train_s, first_loss, ema);

    // ---- validation AP: none / late / max / attn / anchor on the held-out runs ----
    trainer.anchor()->to(torch::kCPU);
    trainer.attn()->to(torch::kCPU);
    trainer.anchor()->eval();
    trainer.attn()->eval();
    std::shared_ptr<fusion::NetDetector> det_cpu = det;
    if (device.is_cuda()) det_cpu = fusion::NetDetector::from_model(args.str("detector"), torch::kCPU);
    detection::EvalConfig ecfg;
    ecfg.gt_range = {grid.x_min_m, grid.y_min_m, -3.0, grid.x_max_m, grid.y_max_m, 1.0};
    ecfg.min_lidar_points = 1;
    nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
    double bytes_sum = 0;
    std::size_t msgs = 0;
    for (const auto& ef : val)
      for (const auto& p : ef.peers) {
        bytes_sum += static_cast<double>(encoded_size_upper_bound(p.msg.num_cells(), p.msg.channels, p.msg.quant,
                                                                  p.msg.grid.num_cells(), p.msg.anchors.size(),
                                                                  p.msg.anchor_dim()));
        ++msgs;
      }
    for (const bool noisy : {false, true}) {
      const char* setting = noisy ? "noisy" : "clean";
      fusion::FusionConfig vcfg = fcfg;  // the fusion is told the σ of the setting (as the replay does)
      vcfg.align.pose_sigma_m = vcfg.align.rsu_pose_sigma_m = noisy ? 0.2 : 0.0;
      vcfg.align.pose_sigma_yaw_deg = noisy ? 0.2 : 0.0;
      std::vector<std::pair<std::string, std::unique_ptr<fusion::Fuser>>> fusers;
      fusers.emplace_back("none", std::make_unique<fusion::NoFusion>());
      fusers.emplace_back("late", std::make_unique<fusion::LateFusion>(vcfg));
      fusers.emplace_back("max", std::make_unique<fusion::MaxFusion>(vcfg, det_cpu));
      if (tcfg.train_attn) fusers.emplace_back("attn", std::make_unique<fusion::AttnFusionFuser>(vcfg, det_cpu, trainer.attn()));
      fusers.emplace_back("anchor", std::make_unique<fusion::AnchorFusion>(vcfg, trainer.anchor()));
      nlohmann::ordered_json& m = metrics[setting];
      for (auto& [name, fuser] : fusers) {
        detection::ApEvaluator ev(ecfg);
        fusion::FusionStats total;
        const auto t0 = Clock::now();
        for (const auto& ef : val) {
          fusion::EgoInput in;
          in.id = ef.ego.id;
          in.stamp_ns = ef.ego.stamp_ns;
          in.T_world_lidar = noisy ? ef.ego_pose_believed : ef.ego.T_world_lidar;
          in.features = &ef.ego.perception.map;
          in.local = &ef.ego.perception.local;
          in.proposals = &ef.ego.perception.proposals;
          fusion::FusionStats st;
          const auto out = fuser->fuse(in, noisy ? ef.peers : ef.peers_clean, &st);
          total.peers_used += st.peers_used;
          total.peers_down_weighted += st.peers_down_weighted;
          ev.add_frame(out.detections, ef.gt);
        }
        const double ms = val.empty() ? 0 : 1e3 * seconds_since(t0) / static_cast<double>(val.size());
        const auto s = ev.summary();
        m[name] = {{"ap_0.3", ev.ap(0.3, false)}, {"ap_0.5", ev.ap(0.5, false)}, {"ap_0.7", ev.ap(0.7, false)},
                   {"fuse_ms_mean", ms}, {"num_gt", s.num_gt}, {"peers_used", total.peers_used},
                   {"peers_down_weighted", total.peers_down_weighted}};
        std::printf("[fusion] val %s %-6s AP@0.3 %.4f  @0.5 %.4f  @0.7 %.4f  (%.1f ms/frame, %d peers used, %d down-weighted)\n",
                    setting, name.c_str(), ev.ap(0.3, false), ev.ap(0.5, false), ev.ap(0.7, false), ms,
                    total.peers_used, total.peers_down_weighted);
      }
    }
    metrics["setting"] = "held-out seeds " + args.str("val-seeds") + " (" + args.str("val-presets") +
                         "), compact fleets " + args.str("val-compact") + ", ego = first CAV; clean: exact poses, same-frame messages; noisy: pose noise 0.2 m / 0.2 deg on every agent, message age 100 ms; " +
                         args.str("selector") + " selector at " + args.str("budget-bytes") + " B, " + args.str("quant") +
                         "; GT = vehicles with >= 1 return inside the detector grid; AP in OpenCOOD frame order";
    metrics["frames"] = val.size();
    metrics["mean_message_bytes_bound"] = msgs ? bytes_sum / static_cast<double>(msgs) : 0.0;

    nlohmann::json manifest;
    manifest["name"] = args.str("name");
    manifest["kind"] = "fusion";
    manifest["detector"] = det->config().net.out_channels;
    manifest["detector_model"] = std::filesystem::path(args.str("detector")).filename().string();
    manifest["git_commit"] = args.str("git-commit");
    manifest["device"] = device.is_cuda() ? "cuda" : "cpu";
    manifest["fusion_config"] = cfg_json(fcfg);
    manifest["training"] = {{"config", cfg_json(tcfg)},
                            {"options", args.values()},
                            {"steps", step},
                            {"samples", samples.size()},
                            {"frames", frames_done},
                            {"data_seconds", data_s},
                            {"train_seconds", train_s},
                            {"first_loss", first_loss},
                            {"final_ema_loss", ema},
                            {"loss_log_ema", loss_log}};
    manifest["metrics"] = metrics;
    manifest["total_seconds"] = seconds_since(t_start);
    manifest.erase("detector");
    manifest["detector_channels"] = C;
    trainer.anchor()->to(device);
    trainer.attn()->to(device);
    save_to(args.str("out"), manifest);
    std::printf("[fusion] wrote %s (%.1f s total)\n", args.str("out").c_str(), seconds_since(t_start));
    return 0;
  } catch (const ArgError& e) {
    std::fprintf(stderr, "v2x_train: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "v2x_train --stage fusion: %s\n", e.what());
    return 2;
  }
}

}  // namespace v2x::train
