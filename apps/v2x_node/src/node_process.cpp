#include "v2x/live/node_process.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "v2x/apps/runtime_factory.hpp"
#include "v2x/comm/curve_keys.hpp"
#include "v2x/fusion/fusers.hpp"
#include "v2x/live/geometric_perception.hpp"
#include "v2x/sensors/dataset.hpp"

namespace fs = std::filesystem;

namespace v2x::live {
namespace {

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string read_key(const std::string& cfg_file, const std::string& key, const std::string& path, bool secret) {
  try {
    return comm::read_key_file(path, secret);
  } catch (const std::runtime_error& e) {
    throw ConfigError(cfg_file, key, e.what());
  }
}

std::map<std::string, std::int64_t> drops_map(const apps::DropCounts& d) {
  return {{"corrupt", d.corrupt},     {"stale", d.stale}, {"future", d.future},
          {"unauthenticated", d.unauthenticated}, {"grid", d.grid}, {"own", d.own},
          {"fragment", d.fragment}};
}

// KITTI label layout (type, truncated, occluded, alpha, 2D box, h w l, x y z, rotation_y, score), with the box in
// the node's LiDAR frame (x forward, y left, z up; z = box centre) since a node has no camera calibration.
void write_kitti(const fs::path& file, const std::vector<Detection>& dets) {
  const fs::path tmp = file.string() + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return;
    for (const auto& d : dets)
      std::fprintf(f, "Car 0.00 0 0.00 0.00 0.00 0.00 0.00 %.3f %.3f %.3f %.3f %.3f %.3f %.4f %.4f\n", d.box.h_m,
                   d.box.w_m, d.box.l_m, d.box.center.x(), d.box.center.y(), d.box.center.z(), d.box.yaw_rad, d.score);
    std::fclose(f);
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
}

}  // namespace

NodeProcess::NodeProcess(apps::LiveNodeConfig cfg, std::string config_file, const std::atomic<bool>& stop)
    : cfg_(std::move(cfg)), file_(std::move(config_file)), stop_(stop), ctx_(std::make_shared<zmq::context_t>(1)) {
  const AgentId self = cfg_.runtime.agent_id;
  // Transport options (keys are read now: a missing or bad key is a setup error naming the config key).
  auto& o = mesh_opt_;
  o.listen_endpoint = cfg_.network.listen;
  o.advertise_endpoint = cfg_.network.advertise;
  o.hello_interval_ms = cfg_.network.hello_interval_ms;
  o.peer_timeout_ms = cfg_.network.peer_timeout_ms;
  o.reconnect_ivl_ms = cfg_.network.reconnect_ivl_ms;
  o.send_hwm = cfg_.network.send_hwm;
  o.recv_hwm = cfg_.network.recv_hwm;
  o.max_message_bytes = static_cast<std::int64_t>(cfg_.network.max_message_kib) * 1024;
  o.context = ctx_;
  o.curve = cfg_.security.curve;
  if (o.curve) {
    o.secret_z85 = read_key(file_, "security.secret_key_file", cfg_.security.secret_key_file, true);
    o.public_z85 = read_key(file_, "security.public_key_file", cfg_.security.public_key_file, false);
    if (comm::curve_public_of(o.secret_z85) != o.public_z85)
      throw ConfigError(file_, "security.public_key_file", "does not belong to security.secret_key_file");
    for (std::size_t i = 0; i < cfg_.security.allowed.size(); ++i) {
      const auto& a = cfg_.security.allowed[i];
      o.allowed.push_back({a.id, a.endpoint,
                           read_key(file_, "security.allowed[" + std::to_string(i) + "].public_key_file",
                                    a.public_key_file, false)});
    }
    // Defence in depth: the runtime drops wire senders not on the allow-list too.
    if (cfg_.runtime.allowed_peers.empty())
      for (const auto& a : cfg_.security.allowed) cfg_.runtime.allowed_peers.push_back(a.id);
  }
  for (const auto& p : cfg_.network.peers) {
    std::string key;
    for (const auto& a : o.allowed)
      if (a.id == p.id) key = a.public_z85;
    o.static_peers.push_back({p.id, p.endpoint, key});
  }
  // Perception.
  if (cfg_.perception == apps::NodePerceptionKind::Geometric) {
    perception_ = std::make_shared<GeometricPerception>(cfg_.geometric);
  } else {
    // The learned LidarDetector (and the learned fusers) through the runtime factory: a missing or mismatching
    // model is a setup error naming the model folder.
    try {
      models_ = std::make_unique<apps::RuntimeModels>(cfg_.runtime);
    } catch (const std::runtime_error& e) {
      throw ConfigError(file_, "model_dir", e.what());
    }
    perception_ = models_->perception();
  }
  // Outputs.
  std::error_code ec;
  fs::create_directories(fs::path(cfg_.output.dir) / "kitti", ec);
  if (ec) throw ConfigError(file_, "output.dir", "cannot create '" + cfg_.output.dir + "': " + ec.message());
  if (cfg_.output.jsonl) {
    // O_APPEND + one write() per line: a killed node leaves whole lines, and a restarted one appends after them.
    const std::string path = (fs::path(cfg_.output.dir) / "detections.jsonl").string();
    jsonl_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (jsonl_fd_ < 0) throw ConfigError(file_, "output.dir", "cannot write detections.jsonl in '" + cfg_.output.dir + "'");
    const auto size = ::lseek(jsonl_fd_, 0, SEEK_END);
    char last = '\n';
    if (size > 0 && ::pread(jsonl_fd_, &last, 1, size - 1) == 1 && last != '\n') (void)!::write(jsonl_fd_, "\n", 1);
  }
  if (!cfg_.network.detections_endpoint.empty()) {
    det_pub_ = std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::pub);
    det_pub_->set(zmq::sockopt::linger, 200);
    det_pub_->set(zmq::sockopt::sndhwm, 64);
    try {
      det_pub_->bind(cfg_.network.detections_endpoint);
    } catch (const zmq::error_t& e) {
      throw ConfigError(file_, "network.detections_endpoint",
                        "cannot bind '" + cfg_.network.detections_endpoint + "': " + e.what());
    }
  }
  spdlog::info("node {}: {} perception, fusion '{}', security {}", self, enum_name(cfg_.perception),
               enum_name(cfg_.runtime.fusion), o.curve ? "CurveZMQ + allow-list" : "OFF (plain ZeroMQ)");
}

NodeProcess::~NodeProcess() {
  if (jsonl_fd_ >= 0) ::close(jsonl_fd_);
}

void NodeProcess::build_runtime(const std::optional<comm::ChannelModelConfig>& channel) {
  std::unique_ptr<comm::Transport> transport;
  std::unique_ptr<comm::MeshTransport> mesh;
  try {
    comm::MeshTransportOptions o = mesh_opt_;
    o.keep_newest_only = !channel;  // with a channel model the shaper keeps the newest batch after the channel
    mesh = std::make_unique<comm::MeshTransport>(cfg_.runtime.agent_id, o);
  } catch (const std::runtime_error& e) {
    throw ConfigError(file_, "network", e.what());
  }
  mesh_ = mesh.get();
  spdlog::info("node {}: inbox {} ({} static peers)", cfg_.runtime.agent_id, mesh_->endpoint(),
               mesh_opt_.static_peers.size());
  if (channel) {
    auto shaped = std::make_unique<comm::ShapedTransport>(std::move(mesh), *channel);
    shaped_ = shaped.get();
    transport = std::move(shaped);
    spdlog::info("node {}: channel model on (latency {} ms, jitter {} ms, loss {} {}, {} Mbit/s, MTU {})",
                 cfg_.runtime.agent_id, channel->latency_ms, channel->jitter_ms, enum_name(channel->loss),
                 channel->loss_rate, channel->bandwidth_mbps, channel->mtu_bytes);
  } else {
    transport = std::move(mesh);
  }
  // With the learned detector every fusion method comes from the runtime factory; the geometric perception has
  // no learned head or features a learned fuser could use, so it runs none or late only.
  const auto method = cfg_.runtime.fusion;
  std::unique_ptr<fusion::Fuser> fuser;
  if (models_) {
    try {
      fuser = models_->make_fuser();
    } catch (const std::runtime_error& e) {
      throw ConfigError(file_, "fusion_model_dir", e.what());
    }
  } else {
    if (method != fusion::FusionMethod::None && method != fusion::FusionMethod::Late)
      throw ConfigError(file_, "fusion",
                        std::string("'") + std::string(enum_name(method)) +
                            "' needs perception: learned (the geometric perception has no learned features); use none "
                            "or late");
    fuser = fusion::make_fuser(method, cfg_.runtime.fusion_config);
  }
  runtime_ = std::make_unique<apps::NodeRuntime>(cfg_.runtime, std::move(transport), perception_, std::move(fuser));
}

DetectionsMessage NodeProcess::tick(const StreamFrame& f) {
  const TimestampNs deadline = runtime_->transport().now_ns() +
                               static_cast<TimestampNs>(cfg_.runtime.comm.deadline_ms * 1e6);
  AgentFrame frame = f.agent;
  frame.id = cfg_.runtime.agent_id;
  const apps::FrameResult r = runtime_->tick(frame, deadline);
  ++ticks_;
  drops_total_.add(r.stats.dropped);
  DetectionsMessage m;
  m.agent = cfg_.runtime.agent_id;
  m.frame = f.frame;
  m.scenario = f.scenario;
  m.timestamp = f.timestamp;
  m.stamp_ns = f.agent.stamp_ns;
  m.wall_ns = wall_ns();
  m.fusion = std::string(enum_name(cfg_.runtime.fusion));
  m.detections = r.detections.detections;
  for (std::size_t i = 0; i < apps::StageTimes::kNames.size(); ++i) m.ms.emplace_back(apps::StageTimes::kNames[i], r.stats.ms.at(i));
  m.bytes_sent = static_cast<std::int64_t>(r.stats.bytes_sent);
  m.datagrams_sent = static_cast<std::int64_t>(r.stats.datagrams_sent);
  m.datagrams_received = r.stats.datagrams_received;
  m.peers_heard = r.stats.peers_heard;
  m.peers_used = r.stats.peers_used;
  m.members = mesh_->members();
  m.heard_from = mesh_->take_heard();
  m.dropped = drops_map(r.stats.dropped);
  const comm::MeshStats ms = mesh_->mesh_stats();
  const comm::TransportStats& ts = mesh_->stats();
  m.totals = {{"ticks", ticks_},
              {"missed_ticks", missed_ticks_},
              {"refused_connections", static_cast<std::int64_t>(ms.refused)},
              {"spoofed", static_cast<std::int64_t>(ms.spoofed)},
              {"malformed", static_cast<std::int64_t>(ts.malformed)},
              {"bad_hello", static_cast<std::int64_t>(ms.bad_hello)},
              {"joined", static_cast<std::int64_t>(ms.joined)},
              {"left", static_cast<std::int64_t>(ms.left)},
              {"returned", static_cast<std::int64_t>(ms.returned)},
              {"bytes_sent", static_cast<std::int64_t>(ts.bytes_sent)},
              {"bytes_received", static_cast<std::int64_t>(ts.bytes_received)},
              {"send_failures", static_cast<std::int64_t>(ts.send_failures)}};
  for (const auto& [k, v] : drops_map(drops_total_)) m.totals["dropped_" + k] = v;
  if (shaped_) {
    const auto cs = shaped_->channel_stats();
    m.totals["channel_lost"] = static_cast<std::int64_t>(cs.lost);
    m.totals["channel_dropped_mtu"] = static_cast<std::int64_t>(cs.dropped_mtu);
    m.totals["channel_dropped_queue"] = static_cast<std::int64_t>(cs.dropped_queue);
  }
  write_outputs(m);
  return m;
}

void NodeProcess::write_outputs(const DetectionsMessage& m) {
  const std::string line = to_json(m).dump();
  if (jsonl_fd_ >= 0) {
    const std::string l = line + "\n";
    if (::write(jsonl_fd_, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
      spdlog::warn("node {}: detections.jsonl: short write", m.agent);
  }
  if (cfg_.output.kitti) {
    char name[64];
    std::snprintf(name, sizeof name, "%06lld.txt", static_cast<long long>(m.frame));
    write_kitti(fs::path(cfg_.output.dir) / "kitti" / name, m.detections);
  }
  if (det_pub_) {
    const std::string topic = detections_topic(m.agent);
    try {
      det_pub_->send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      det_pub_->send(zmq::buffer(line), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
    }
  }
}

int NodeProcess::run() {
  const int rc = cfg_.source.kind == apps::NodeSourceKind::Sim ? run_sim() : run_dataset();
  if (jsonl_fd_ >= 0) ::fsync(jsonl_fd_);
  if (mesh_) {
    const auto s = mesh_->mesh_stats();
    spdlog::info("node {}: {} ticks, {} missed; peers joined {}, left {}, returned {}; refused connections {}, "
                 "spoofed {}, malformed {}, dropped corrupt {} stale {} unauthenticated {}",
                 cfg_.runtime.agent_id, ticks_, missed_ticks_, s.joined, s.left, s.returned, s.refused, s.spoofed,
                 mesh_->stats().malformed, drops_total_.corrupt, drops_total_.stale, drops_total_.unauthenticated);
  }
  return rc;
}

int NodeProcess::run_sim() {
  const AgentId self = cfg_.runtime.agent_id;
  zmq::socket_t dealer(*ctx_, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::routing_id, "node" + std::to_string(self));
  dealer.set(zmq::sockopt::linger, 500);
  dealer.set(zmq::sockopt::rcvhwm, 8);
  dealer.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(16 * kMaxStreamPoints + kMaxHeaderBytes));
  dealer.set(zmq::sockopt::reconnect_ivl, 100);
  try {
    dealer.connect(cfg_.source.driver_endpoint);
  } catch (const zmq::error_t& e) {
    throw ConfigError(file_, "source.driver_endpoint", "cannot connect '" + cfg_.source.driver_endpoint + "': " + e.what());
  }
  const std::string hello = nlohmann::json{{"agent", self}, {"pid", static_cast<long>(::getpid())}, {"version", 1}}.dump();
  auto send_parts = [&](std::initializer_list<std::string_view> parts) {
    std::size_t i = 0;
    for (auto p : parts) {
      const auto flags = ++i < parts.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait : zmq::send_flags::dontwait;
      try {
        dealer.send(zmq::buffer(p.data(), p.size()), flags);
      } catch (const zmq::error_t&) {
        return;
      }
    }
  };
  auto recv_all = [&](std::vector<zmq::message_t>& parts) {
    parts.clear();
    zmq::message_t m;
    if (!dealer.recv(m, zmq::recv_flags::dontwait)) return false;
    bool more = m.more();
    parts.push_back(std::move(m));
    while (more) {
      zmq::message_t p;
      (void)dealer.recv(p, zmq::recv_flags::none);
      more = p.more();
      if (parts.size() < 8) parts.push_back(std::move(p));
    }
    return true;
  };
  using Clock = std::chrono::steady_clock;
  auto last_heard = Clock::now();
  auto last_hello = Clock::now() - std::chrono::hours(1);
  bool welcomed = false;
  std::vector<zmq::message_t> parts;
  while (!stop_) {
    if (!welcomed && Clock::now() - last_hello > std::chrono::milliseconds(300)) {
      send_parts({"HELLO", hello});
      last_hello = Clock::now();
    }
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
    } catch (const zmq::error_t&) {
      continue;  // EINTR from a signal: the loop condition decides
    }
    if (!(item.revents & ZMQ_POLLIN)) {
      if (std::chrono::duration<double, std::milli>(Clock::now() - last_heard).count() > cfg_.source.driver_timeout_ms) {
        spdlog::error("node {}: the driver at {} has been silent for {:.0f} ms; stopping", self,
                      cfg_.source.driver_endpoint, cfg_.source.driver_timeout_ms);
        return 1;
      }
      if (runtime_) (void)runtime_->transport().poll(runtime_->transport().now_ns());  // keep membership fresh
      continue;
    }
    // Take everything waiting; of several frames only the newest is processed (the rest are missed ticks).
    std::optional<StreamFrame> newest;
    bool stop_msg = false;
    while (recv_all(parts)) {
      last_heard = Clock::now();
      const std::string kind = parts[0].to_string();
      if (kind == "WELCOME" && parts.size() >= 2 && !welcomed) {
        const auto j = nlohmann::json::parse(parts[1].to_string(), nullptr, false);
        std::optional<comm::ChannelModelConfig> channel;
        try {
          if (j.is_object() && j.contains("channel") && j["channel"].is_object()) channel = channel_from_json(j["channel"]);
        } catch (const std::exception& e) {
          spdlog::error("node {}: bad channel model from the driver: {}", self, e.what());
          return 2;
        }
        build_runtime(channel);
        welcomed = true;
        spdlog::info("node {}: welcomed by the driver at {}", self, cfg_.source.driver_endpoint);
      } else if (kind == "FRAME" && parts.size() == 3 && welcomed) {
        auto f = decode_frame(parts[1].to_string(), parts[2].data(), parts[2].size());
        if (!f) {
          spdlog::warn("node {}: bad frame from the driver: {}", self, f.error().message);
          continue;
        }
        if (newest) ++missed_ticks_;
        newest = std::move(f.value());
      } else if (kind == "STOP") {
        stop_msg = true;
      }
    }
    if (newest) {
      const DetectionsMessage m = tick(*newest);
      const std::string line = to_json(m).dump();
      send_parts({"RESULT", line});
    }
    if (stop_msg) {
      spdlog::info("node {}: STOP from the driver", self);
      break;
    }
  }
  send_parts({"BYE", nlohmann::json{{"agent", self}}.dump()});
  return 0;
}

int NodeProcess::run_dataset() {
  const AgentId self = cfg_.runtime.agent_id;
  std::unique_ptr<sensors::CoopDataset> ds;
  try {
    ds = sensors::open_dataset(sensors::dataset_format_from_string(cfg_.source.dataset_format), cfg_.source.dataset,
                               /*cameras=*/!cfg_.runtime.camera_model_dir.empty());
  } catch (const std::exception& e) {
    throw ConfigError(file_, "source.dataset", e.what());
  }
  build_runtime(std::nullopt);
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  TimestampNs stamp0 = -1;
  std::int64_t done = 0;
  std::string scenario;
  for (std::size_t i = 0; i < ds->size() && !stop_; ++i) {
    if (cfg_.source.max_frames > 0 && done >= cfg_.source.max_frames) break;
    auto cf = ds->load(i);
    if (!cf) {
      spdlog::warn("node {}: frame {} skipped: {}", self, i, cf.error().message);
      continue;
    }
    const AgentFrame* a = cf->agent(self);
    if (!a) continue;  // this agent is not in the frame
    if (cf->scenario != scenario) {
      scenario = cf->scenario;
      runtime_->reset();
      stamp0 = -1;
    }
    StreamFrame f;
    f.frame = static_cast<std::int64_t>(i);
    f.scenario = cf->scenario;
    f.timestamp = cf->timestamp;
    f.agent = *a;
    if (cfg_.source.real_time) {
      if (stamp0 < 0) {
        stamp0 = a->stamp_ns;
        t0 = Clock::now();
      }
      const auto due = t0 + std::chrono::nanoseconds(a->stamp_ns - stamp0);
      if (Clock::now() > due + std::chrono::milliseconds(100)) ++missed_ticks_;  // behind schedule
      while (!stop_ && Clock::now() < due) std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(50)));
    }
    tick(f);
    ++done;
  }
  return 0;
}

}  // namespace v2x::live
