#include "v2x/apps/replay.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "v2x/comm/channel_model.hpp"
#include "v2x/core/rng.hpp"

namespace v2x::apps {
namespace {

using Clock = std::chrono::steady_clock;

// One scenario's agents. Member order matters: runtimes (and their transports) are destroyed before the medium.
struct Scenario {
  std::string name;
  AgentId ego = 0;
  std::shared_ptr<comm::InProcessHub> hub;
  std::unique_ptr<comm::ChannelMedium> medium;
  std::map<AgentId, std::unique_ptr<NodeRuntime>> nodes;
  std::map<AgentId, SensorSet> sensors;  // per agent (ReplayConfig::sensors)

  void set_time(TimestampNs t) {
    if (medium) medium->set_time(std::max(t, medium->now_ns()));
    if (hub) hub->set_time(t);
  }
};

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

// Progress bar with ETA on stderr: redrawn in place on a terminal, one line per 10 % otherwise (logs).
class Progress {
 public:
  Progress(std::size_t total, bool enabled) : total_(total), enabled_(enabled && total > 0), tty_(isatty(2) != 0) {}
  void update(std::size_t done, const std::string& note) {
    if (!enabled_) return;
    const double el = std::chrono::duration<double>(Clock::now() - t0_).count();
    const double rate = done > 0 ? static_cast<double>(done) / el : 0.0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : -1;
    const int pct = static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total_));
    if (!tty_ && done != total_ && pct / 10 == last_decile_) return;
    last_decile_ = pct / 10;
    constexpr int kWidth = 30;
    const int fill = static_cast<int>(kWidth * static_cast<double>(done) / static_cast<double>(total_));
    std::string bar(static_cast<std::size_t>(fill), '=');
    if (fill < kWidth) bar += '>' + std::string(static_cast<std::size_t>(kWidth - fill - 1), ' ');
    std::fprintf(stderr, "%s[%s] %zu/%zu %3d%% %.1f frames/s elapsed %s ETA %s %s%s", tty_ ? "\r" : "", bar.c_str(),
                 done, total_, pct, rate, fmt_duration(el).c_str(), fmt_duration(eta).c_str(), note.c_str(),
                 tty_ ? "\033[K" : "\n");
    if (tty_ && done == total_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  std::size_t total_;
  bool enabled_, tty_;
  int last_decile_ = -1;
  Clock::time_point t0_ = Clock::now();
};

nlohmann::ordered_json drops_json(const DropCounts& d) {
  return {{"future", d.future},       {"grid", d.grid},
          {"own", d.own},             {"fragment", d.fragment},
          {"fuser_stale", d.fuser_stale}, {"fuser_grid", d.fuser_grid},
          {"fuser_down_weighted", d.fuser_down_weighted}};
}

nlohmann::ordered_json sensors_json(const ReplayConfig& cfg) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (SensorSet s : cfg.sensors) j.push_back(std::string(enum_name(s)));
  j.push_back("then " + std::string(enum_name(cfg.node.sensors)));
  return j;
}

}  // namespace

Pose believed_pose(const Pose& T, const PoseNoiseConfig& n, std::uint64_t seed, std::uint64_t frame_index,
                   AgentId agent) {
  if (n.xy_m <= 0 && n.yaw_deg <= 0) return T;
  Rng rng = Rng(seed).fork(frame_index * 0x9E3779B1ull + static_cast<std::uint32_t>(agent));
  const double dx = rng.normal(0, n.xy_m), dy = rng.normal(0, n.xy_m), dyaw = rng.normal(0, deg_to_rad(n.yaw_deg));
  Pose out = T;
  out.linear() = Eigen::AngleAxisd(dyaw, Eigen::Vector3d::UnitZ()).toRotationMatrix() * T.linear();
  out.translation() += Eigen::Vector3d(dx, dy, 0.0);
  return out;
}

std::vector<int> count_points_in_boxes(const PointCloud& c, const std::vector<Box3D>& boxes) {
  std::vector<int> n(boxes.size(), 0);
  for (std::size_t b = 0; b < boxes.size(); ++b) {
    const Box3D& box = boxes[b];
    const double cs = std::cos(box.yaw_rad), sn = std::sin(box.yaw_rad);
    const double hl = box.l_m / 2, hw = box.w_m / 2, hh = box.h_m / 2, r = std::hypot(hl, hw);
    for (std::size_t i = 0; i < c.size(); ++i) {
      const double dx = c.x[i] - box.center.x(), dy = c.y[i] - box.center.y();
      if (std::fabs(dx) > r || std::fabs(dy) > r) continue;
      const double u = cs * dx + sn * dy, v = -sn * dx + cs * dy, w = c.z[i] - box.center.z();
      if (std::fabs(u) <= hl && std::fabs(v) <= hw && std::fabs(w) <= hh) ++n[b];
    }
  }
  return n;
}

void write_bev_png(const std::string& file, const PointCloud& cloud, const std::vector<Box3D>& gt,
                   const std::vector<Detection>& dets, const std::array<double, 6>& range) {
  const double x0 = range[0], y0 = range[1], x1 = range[3], y1 = range[4];
  const double s = std::min(10.0, 1600.0 / std::max(1.0, x1 - x0));  // px per metre
  const int W = static_cast<int>(std::ceil((x1 - x0) * s)), H = static_cast<int>(std::ceil((y1 - y0) * s));
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(20, 20, 20));
  auto px = [&](double x, double y) { return cv::Point(static_cast<int>((x - x0) * s), static_cast<int>((y1 - y) * s)); };
  for (std::size_t i = 0; i < cloud.size(); ++i) {
    if (!std::isfinite(cloud.x[i]) || !std::isfinite(cloud.y[i])) continue;
    const cv::Point p = px(cloud.x[i], cloud.y[i]);
    if (p.x >= 0 && p.y >= 0 && p.x < W && p.y < H) img.at<cv::Vec3b>(p) = cv::Vec3b(150, 150, 150);
  }
  auto draw = [&](const Box3D& b, const cv::Scalar& colour) {
    const auto c = b.bev_corners();
    std::vector<cv::Point> poly;
    for (const auto& q : c) poly.push_back(px(q.x(), q.y()));
    cv::polylines(img, poly, true, colour, 1, cv::LINE_AA);
    // heading: centre → front edge midpoint
    const Eigen::Vector2d front = (c[0] + c[3]) / 2;
    cv::line(img, px(b.center.x(), b.center.y()), px(front.x(), front.y()), colour, 1, cv::LINE_AA);
  };
  for (const auto& b : gt) draw(b, cv::Scalar(0, 220, 0));
  for (const auto& d : dets) {
    draw(d.box, cv::Scalar(0, 0, 255));
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2f", d.score);
    cv::putText(img, buf, px(d.box.center.x(), d.box.center.y()) + cv::Point(4, -4), cv::FONT_HERSHEY_SIMPLEX, 0.35,
                cv::Scalar(60, 60, 255), 1, cv::LINE_AA);
  }
  cv::circle(img, px(0, 0), 3, cv::Scalar(255, 200, 0), cv::FILLED);
  const std::filesystem::path target(file);
  const std::filesystem::path tmp = target.parent_path() / (target.stem().string() + ".tmp.png");
  if (!cv::imwrite(tmp.string(), img)) throw std::runtime_error(file + ": cannot write PNG");
  std::filesystem::rename(tmp, target);
}

void set_fusion_pose_sigmas(ReplayConfig& cfg) {
  auto& align = cfg.node.fusion_config.align;
  align.pose_sigma_m = align.rsu_pose_sigma_m = cfg.pose_noise.xy_m;
  align.pose_sigma_yaw_deg = cfg.pose_noise.yaw_deg;
}

detection::EvalReport run_replay(const sensors::CoopDataset& ds, const ReplayConfig& cfg_in, const ReplayResources& res,
                                 const ReplayOutputs& out) {
  ReplayConfig cfg = cfg_in;
  validate_config(cfg);
  if (!res.perception || !res.make_fuser) throw std::invalid_argument("run_replay: perception and make_fuser needed");
  const std::string format = ds.format();
  if (format == "kitti" && cfg.node.fusion != fusion::FusionMethod::None)
    throw ConfigError("", "fusion", "KITTI frames have a single agent: only --fusion none can run on them (got '" +
                                        std::string(enum_name(cfg.node.fusion)) + "')");

  detection::ApEvaluator eval(cfg.eval);
  detection::EvalConfig eval_min_cfg = cfg.eval;
  eval_min_cfg.min_lidar_points = cfg.min_lidar_points;
  detection::ApEvaluator eval_min(eval_min_cfg);
  std::unique_ptr<detection::DumpWriter> dump;
  if (!out.dump_path.empty()) dump = std::make_unique<detection::DumpWriter>(out.dump_path);
  if (!out.viz_dir.empty()) std::filesystem::create_directories(out.viz_dir);

  detection::PercentileAccumulator bytes, cells, anchors, points;
  std::array<detection::PercentileAccumulator, StageTimes::kNames.size()> stage;
  detection::PercentileAccumulator peers_used, peers_heard;
  DropCounts drops;
  std::int64_t frames = 0, skipped = 0, max_agents = 0, agent_frames = 0;

  const std::size_t n = cfg.max_frames > 0 ? std::min<std::size_t>(ds.size(), static_cast<std::size_t>(cfg.max_frames))
                                           : ds.size();
  Progress progress(n, out.progress);
  std::unique_ptr<Scenario> sc;
  for (std::size_t i = 0; i < n; ++i) {
    auto loaded = ds.load(i);
    if (!loaded) {
      ++skipped;
      spdlog::warn("frame {} skipped: {}", i, loaded.error().message);
      progress.update(i + 1, "");
      continue;
    }
    const CoopFrame& f = loaded.value();
    const AgentFrame* ego_frame = f.agent(f.ego);
    if (!ego_frame) {
      ++skipped;
      spdlog::warn("frame {}/{} skipped: ego {} has no data", f.scenario, f.timestamp, f.ego);
      progress.update(i + 1, "");
      continue;
    }
    if (!sc || sc->name != f.scenario || sc->ego != f.ego) {
      sc.reset();
      sc = std::make_unique<Scenario>();
      sc->name = f.scenario;
      sc->ego = f.ego;
      if (cfg.latency_ms > 0) {
        comm::ChannelModelConfig ch;
        ch.latency_ms = cfg.latency_ms;
        ch.mtu_bytes = 0;
        ch.seed = cfg.seed;
        sc->medium = std::make_unique<comm::ChannelMedium>(ch);
        sc->medium->set_time(f.stamp_ns);
      } else {
        sc->hub = std::make_shared<comm::InProcessHub>();
      }
    }
    sc->set_time(f.stamp_ns);

    // Heterogeneous fleet: the k-th agent's sensors (cfg.sensors), k = its position among the scenario's candidate
    // agents in load order (FrameRef::agents, before OPV2V's range rule, so the same agent keeps its entry in every
    // frame whether or not it is in range).
    if (sc->sensors.empty()) {
      const std::vector<AgentId> ids = ds.ref(i).agents;
      for (std::size_t k = 0; k < ids.size(); ++k)
        sc->sensors[ids[k]] = k < cfg.sensors.size() ? cfg.sensors[k] : cfg.node.sensors;
    }
    auto sensors_of = [&](AgentId id) {
      const auto it = sc->sensors.find(id);
      return it == sc->sensors.end() ? cfg.node.sensors : it->second;
    };
    if (sensors_of(f.ego) == SensorSet::None)
      throw ConfigError("", "sensors", "the ego (agent " + std::to_string(f.ego) + " of " + f.scenario +
                                           ") cannot be 'none'");

    // 1. every connected agent produces (the ego last, so that its consume follows directly).
    std::vector<const AgentFrame*> order;
    for (const auto& a : f.agents)
      if (a.id != f.ego && sensors_of(a.id) != SensorSet::None) order.push_back(&a);
    order.push_back(ego_frame);
    // Every agent of the frame is attached before anyone sends (transports deliver to attached agents only).
    for (const AgentFrame* a : order) {
      auto it = sc->nodes.find(a->id);
      if (it == sc->nodes.end()) {
        NodeConfig nc = cfg.node;
        nc.agent_id = a->id;
        nc.is_rsu = a->is_rsu;
        nc.sensors = sensors_of(a->id);
        std::unique_ptr<comm::Transport> tr;
        if (sc->medium) tr = sc->medium->attach(a->id);
        else tr = std::make_unique<comm::InProcessTransport>(sc->hub, a->id);
        auto fuser = a->id == f.ego ? res.make_fuser() : nullptr;
        sc->nodes.emplace(a->id, std::make_unique<NodeRuntime>(nc, std::move(tr), res.perception, std::move(fuser)));
      }
    }
    for (const AgentFrame* a : order) {
      auto it = sc->nodes.find(a->id);
      const Pose believed = believed_pose(a->T_world_lidar, cfg.pose_noise, cfg.seed, i, a->id);
      const FrameStats& st = it->second->produce(*a, believed);
      if (st.sent) {
        bytes.add(static_cast<double>(st.bytes_sent));
        cells.add(static_cast<double>(st.cells_sent));
        anchors.add(static_cast<double>(st.anchors_sent));
        points.add(static_cast<double>(st.points_sent));
      }
    }
    for (const AgentFrame* a : order)
      if (a->id != f.ego) sc->nodes.at(a->id)->discard_incoming(f.stamp_ns);
    max_agents = std::max<std::int64_t>(max_agents, static_cast<std::int64_t>(order.size()));
    agent_frames += static_cast<std::int64_t>(order.size());

    // 2. the ego consumes what has arrived by its frame stamp.
    FrameResult r = sc->nodes.at(f.ego)->consume(f.stamp_ns);
    for (std::size_t s = 0; s < StageTimes::kNames.size(); ++s) stage[s].add(r.stats.ms.at(s));
    drops.add(r.stats.dropped);
    peers_used.add(r.stats.peers_used);
    peers_heard.add(r.stats.peers_heard);

    // 3. evaluation in the ego's true LiDAR frame.
    const Pose T_ego_world = ego_frame->T_world_lidar.inverse();
    std::vector<Object3D> gt;
    std::vector<Box3D> gt_boxes;
    for (const auto& o : f.gt_world)
      if (is_vehicle(o.cls)) {
        Object3D e = o;
        e.box = o.box.transformed(T_ego_world);
        gt.push_back(e);
        gt_boxes.push_back(e.box);
      }
    const std::vector<int> pts = count_points_in_boxes(ego_frame->cloud, gt_boxes);
    for (std::size_t g = 0; g < gt.size(); ++g) gt[g].lidar_points = pts[g];
    const detection::FrameEval fe = eval.add_frame(r.detections.detections, gt);
    eval_min.add_frame(r.detections.detections, gt);
    const std::string frame_name = f.scenario + "/" + f.timestamp;
    if (dump) dump->write(frame_name, f.ego, fe);
    if (!out.viz_dir.empty()) {
      std::string file = f.scenario + "_" + f.timestamp + ".png";
      for (char& c : file)
        if (c == '/' || c == '\\') c = '_';
      write_bev_png((std::filesystem::path(out.viz_dir) / file).string(), ego_frame->cloud, fe.gt, fe.detections,
                    cfg.eval.gt_range);
    }
    ++frames;
    char note[96];
    std::snprintf(note, sizeof note, "| %s peers %d det %zu", f.scenario.c_str(), r.stats.peers_used,
                  r.detections.detections.size());
    progress.update(i + 1, note);
  }
  sc.reset();
  if (dump) dump->flush();

  detection::EvalReport rep;
  rep.frames = frames;
  rep.agents = max_agents;
  rep.method = std::string(enum_name(cfg.node.fusion));
  const auto summary = eval.summary();
  rep.set_ap(summary);
  rep.set_bytes(bytes);
  for (std::size_t s = 0; s < StageTimes::kNames.size(); ++s) rep.add_latency(StageTimes::kNames[s], stage[s]);
  rep.dropped.stale = drops.stale;
  rep.dropped.corrupt = drops.corrupt;
  rep.dropped.unauthenticated = drops.unauthenticated;

  const auto smin = eval_min.summary();
  auto& x = rep.extra;
  const std::string min_key = "ap_min" + std::to_string(cfg.min_lidar_points) + "_points";
  x[min_key] = detection::ap_json(smin, false);
  x[min_key + "_global_sort"] = detection::ap_json(smin, true);
  x["num_gt"] = summary.num_gt;
  x["num_gt_min_points"] = smin.num_gt;
  x["num_detections"] = summary.num_detections;
  x["frames_skipped"] = skipped;
  x["agents_mean"] = frames > 0 ? static_cast<double>(agent_frames) / static_cast<double>(frames) : 0.0;
  x["messages"] = bytes.size();
  x["per_message"] = {{"cells_mean", cells.mean()}, {"anchors_mean", anchors.mean()}, {"points_mean", points.mean()}};
  x["peers_heard_mean"] = peers_heard.mean();
  x["peers_used_mean"] = peers_used.mean();
  x["dropped_other"] = drops_json(drops);
  const auto& sel = cfg.node.selection;
  x["setting"] = {{"dataset", out.dataset_name},
                  {"format", format},
                  {"fusion", rep.method},
                  {"selector", std::string(enum_name(sel.kind))},
                  {"bits", bits_of(sel.budget.quant)},
                  {"budget_bytes", sel.budget.budget_bytes},
                  {"mtu_bytes", cfg.node.comm.mtu_bytes},
                  {"pose_noise_xy_m", cfg.pose_noise.xy_m},
                  {"pose_noise_yaw_deg", cfg.pose_noise.yaw_deg},
                  {"latency_ms", cfg.latency_ms},
                  {"seed", cfg.seed},
                  {"model_dir", cfg.node.model_dir},
                  {"camera_model_dir", cfg.node.camera_model_dir},
                  {"sensors", sensors_json(cfg)},
                  {"fusion_model_dir", cfg.node.fusion_model_dir}};
  if (!out.report_path.empty()) detection::write_report(rep, out.report_path);
  return rep;
}

}  // namespace v2x::apps
