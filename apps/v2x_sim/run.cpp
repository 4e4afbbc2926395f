// v2x_sim run: the simulator drives a fleet of live v2x_node processes over ZeroMQ (docs/nodes.md).
//
//   v2x_sim run (--config FILE | --preset NAME) --nodes N [--frames N] [--report FILE.json] [--dump FILE.jsonl]
//               [--viz DIR] [--rate HZ] [--work DIR] [--attach | --prepare] [channel options]
//
// 1. Builds the world; the first N agents of the scenario become nodes (more CAVs are added when N exceeds the
//    config's agents). Unless --attach: writes per-node key pairs, node configs (WORK/node<id>.yaml: geometric
//    perception + late fusion unless --node-config gives a template, CurveZMQ with every node on every
//    allow-list, static peers = all nodes) and starts one v2x_node process per agent (logs in WORK/node<id>.log).
//    --prepare stops after writing them (tests start the nodes themselves, then run with --attach).
// 2. Frame stream (ROUTER on --driver): each node says HELLO and gets WELCOME (with the channel model, applied
//    at every receiver: comm::ShapedTransport), then one FRAME per tick with its own cloud + poses. The driver
//    waits for every responsive node's RESULT of the tick (or --tick-timeout-ms: that node is then not waited
//    for until it answers again) and paces ticks at --rate Hz (0: as fast as the nodes go). A node that says
//    HELLO again (restarted) is welcomed and gets frames from the next tick on.
// 3. Evaluation as v2x_replay: the ego's (first agent's) detections against the GT in its true LiDAR frame
//    (detection::ApEvaluator), per-node AP in `extra`; report (--report), dump (--dump), BEV PNGs (--viz).
#include "run.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "v2x/apps/cli.hpp"
#include "v2x/apps/config_yaml.hpp"
#include "v2x/apps/live_node_config.hpp"
#include "v2x/apps/replay.hpp"
#include "v2x/comm/curve_keys.hpp"
#include "v2x/detection/evaluation.hpp"
#include "v2x/detection/report.hpp"
#include "v2x/live/stream.hpp"
#include "v2x/sim/simulator.hpp"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace v2x::simrun {
namespace {

using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

std::string fmt_s(double s) {
  char b[32];
  if (s >= 60) std::snprintf(b, sizeof b, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  else std::snprintf(b, sizeof b, "%.0fs", s);
  return b;
}

fs::path default_node_bin() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path p = self.parent_path().parent_path() / "v2x_node" / "v2x_node";
    if (fs::exists(p)) return p;
  }
  return "v2x_node";
}

struct NodeInfo {
  AgentId id = 0;
  bool is_rsu = false;
  std::string config;        // WORK/node<id>.yaml
  std::string out_dir;
  pid_t pid = -1;            // spawned here
  bool welcomed = false;
  bool responsive = false;   // waited for this tick
  std::string routing;       // "node<id>"
  std::int64_t results = 0, timeouts = 0, welcomes = 0;
  double rss_first_mib = -1, rss_last_mib = -1, rss_max_mib = -1;  // spawned nodes, sampled every ~10 s
  nlohmann::json last_totals = nlohmann::json::object();
  detection::ApEvaluator eval;
  explicit NodeInfo(const detection::EvalConfig& e) : eval(e) {}
};

// Resident set size of a process in MiB (/proc/<pid>/statm), or -1.
double rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  long pages_total = 0, pages_rss = 0;
  if (!(in >> pages_total >> pages_rss)) return -1;
  return static_cast<double>(pages_rss) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

pid_t spawn(const fs::path& bin, const std::string& config, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    std::FILE* f = std::freopen(log.c_str(), "a", stderr);
    (void)f;
    f = std::freopen("/dev/null", "w", stdout);
    (void)f;
    ::execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), "--log-level", "info", static_cast<char*>(nullptr));
    ::execlp(bin.c_str(), bin.c_str(), "--config", config.c_str(), "--log-level", "info", static_cast<char*>(nullptr));
    std::fprintf(stderr, "v2x_sim run: cannot start %s\n", bin.c_str());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

int run_command(int argc, const char* const* argv) {
  po::options_description d("v2x_sim run");
  apps::add_common_options(d);
  d.add_options()("config", po::value<std::string>(), "simulator config YAML (config/sim/*.yaml)")(
      "preset", po::value<std::string>(), "built-in config instead of --config: urban|suburban|highway|tiny")(
      "seed", po::value<std::uint64_t>()->default_value(0), "world seed")(
      "threads", po::value<int>()->default_value(1), "ray-casting threads")(
      "nodes", po::value<int>(), "number of nodes (the first N agents)")(
      "frames", po::value<int>()->default_value(50), "ticks to run")(
      "rate", po::value<double>()->default_value(10.0), "ticks per second (0: as fast as the nodes go)")(
      "report", po::value<std::string>(), "report JSON (as v2x_replay)")(
      "dump", po::value<std::string>(), "per-frame dump JSONL of the ego")(
      "viz", po::value<std::string>(), "folder for the ego's BEV PNG sequence")(
      "work", po::value<std::string>(), "folder for keys, node configs, logs and node outputs (default: a new /tmp folder)")(
      "node-config", po::value<std::string>(), "template node config (config/node/*.yaml); default: geometric + late")(
      "node-bin", po::value<std::string>(), "v2x_node binary (default: beside this binary's build folder)")(
      "driver", po::value<std::string>()->default_value("tcp://127.0.0.1:5550"), "frame-stream endpoint (ROUTER)")(
      "base-port", po::value<int>()->default_value(5600), "node k: inbox port base+2k, detections port base+2k+1")(
      "spare-ids", po::value<std::string>()->default_value(""),
      "comma-separated extra node ids given keys and put on every allow-list (tests: misbehaving peers)")(
      "insecure", po::bool_switch(), "plain ZeroMQ between nodes (no CurveZMQ)")(
      "attach", po::bool_switch(), "do not start nodes: wait for N nodes started elsewhere (configs in --work)")(
      "prepare", po::bool_switch(), "write keys + node configs to --work and exit")(
      "no-channel", po::bool_switch(), "no channel model (loopback ZeroMQ only)")(
      "latency-ms", po::value<double>()->default_value(20), "channel: one-way latency")(
      "jitter-ms", po::value<double>()->default_value(5), "channel: uniform jitter")(
      "loss", po::value<double>()->default_value(0.0), "channel: Bernoulli loss rate per datagram")(
      "bandwidth-mbps", po::value<double>()->default_value(0), "channel: per-sender cap (0: none)")(
      "mtu", po::value<int>()->default_value(0), "channel MTU and node fragment size in bytes (0: no fragments)")(
      "tick-timeout-ms", po::value<double>()->default_value(2000), "stop waiting for a node's result after this")(
      "join-timeout-ms", po::value<double>()->default_value(30000), "wait this long for every node's HELLO")(
      "gt-range", po::value<std::string>(),
      "evaluation GT range x0,y0,z0,x1,y1,z1 in the ego LiDAR frame (default OpenCOOD's -140,-40,-3,140,40,1)")(
      "no-progress", po::bool_switch(), "no progress bar");
  po::variables_map vm;
  if (!apps::parse_command_line(argc, argv, d, vm,
                                "usage: v2x_sim run (--config FILE | --preset NAME) --nodes N [--frames N] "
                                "[--report FILE.json] [--viz DIR]"))
    return 0;
  if (vm.count("config") == vm.count("preset")) throw apps::UsageError("give exactly one of --config and --preset");
  if (!vm.count("nodes")) throw apps::UsageError("--nodes is required");
  const int n_nodes = vm["nodes"].as<int>();
  const int frames = vm["frames"].as<int>();
  const double rate = vm["rate"].as<double>();
  if (n_nodes < 1 || n_nodes > 64) throw apps::UsageError("--nodes must be in [1, 64]");
  if (frames < 1) throw apps::UsageError("--frames must be ≥ 1");
  if (rate < 0 || rate > 1000) throw apps::UsageError("--rate must be in [0, 1000]");
  sim::SimConfig scfg;
  std::string cfg_file;
  if (vm.count("config")) {
    cfg_file = vm["config"].as<std::string>();
    scfg = apps::load_config<sim::SimConfig>(cfg_file);
  } else {
    try {
      scfg = sim::preset(vm["preset"].as<std::string>());
    } catch (const std::invalid_argument& e) {
      throw apps::UsageError(std::string("--preset: ") + e.what());
    }
  }
  if (scfg.agents.connected_vehicles + scfg.agents.rsus < n_nodes)
    scfg.agents.connected_vehicles = n_nodes - scfg.agents.rsus;
  apps::LiveNodeConfig tmpl;
  tmpl.perception = apps::NodePerceptionKind::Geometric;
  tmpl.runtime.fusion = fusion::FusionMethod::Late;
  if (vm.count("node-config")) tmpl = apps::load_config<apps::LiveNodeConfig>(vm["node-config"].as<std::string>());
  std::vector<AgentId> spare;
  {
    std::stringstream ss(vm["spare-ids"].as<std::string>());
    std::string tok;
    while (std::getline(ss, tok, ','))
      if (!tok.empty()) {
        try {
          spare.push_back(std::stoi(tok));
        } catch (const std::exception&) {
          throw apps::UsageError("--spare-ids: not an id: '" + tok + "'");
        }
      }
  }
  const bool secure = !vm["insecure"].as<bool>();
  const bool attach = vm["attach"].as<bool>(), prepare = vm["prepare"].as<bool>();
  const std::string driver_ep = vm["driver"].as<std::string>();
  const int base_port = vm["base-port"].as<int>();
  const fs::path work = vm.count("work") ? fs::path(vm["work"].as<std::string>())
                                         : fs::temp_directory_path() / ("v2x_run_" + std::to_string(::getpid()));
  fs::create_directories(work);

  std::unique_ptr<sim::Simulator> simulator;
  try {
    simulator = std::make_unique<sim::Simulator>(scfg, vm["seed"].as<std::uint64_t>());
  } catch (const ConfigError& e) {
    if (!e.file().empty()) throw;
    throw ConfigError(cfg_file.empty() ? "preset" : cfg_file, e.key(), e.what());
  }
  simulator->set_threads(vm["threads"].as<int>());
  CoopFrame first = simulator->step();
  if (static_cast<int>(first.agents.size()) < n_nodes)
    throw apps::UsageError("the scenario has only " + std::to_string(first.agents.size()) + " agents");

  detection::EvalConfig eval_cfg;
  if (vm.count("gt-range")) {
    std::stringstream ss(vm["gt-range"].as<std::string>());
    std::string tok;
    std::vector<double> v;
    while (std::getline(ss, tok, ',')) {
      try {
        v.push_back(std::stod(tok));
      } catch (const std::exception&) {
        throw apps::UsageError("--gt-range: not a number: '" + tok + "'");
      }
    }
    if (v.size() != 6) throw apps::UsageError("--gt-range needs 6 comma-separated numbers");
    std::copy(v.begin(), v.end(), eval_cfg.gt_range.begin());
    try {
      eval_cfg.check("--gt-range");
    } catch (const ConfigError& e) {
      throw apps::UsageError(e.what());
    }
  }
  std::vector<std::unique_ptr<NodeInfo>> nodes;
  for (int k = 0; k < n_nodes; ++k) {
    auto n = std::make_unique<NodeInfo>(eval_cfg);
    n->id = first.agents[k].id;
    n->is_rsu = first.agents[k].is_rsu;
    n->routing = "node" + std::to_string(n->id);
    n->config = (work / ("node" + std::to_string(n->id) + ".yaml")).string();
    n->out_dir = (work / "out" / ("node" + std::to_string(n->id))).string();
    nodes.push_back(std::move(n));
  }
  const AgentId ego_id = nodes.front()->id;

  // ---- keys + node configs --------------------------------------------------------------------------------
  if (!attach) {
    const fs::path keys = work / "keys";
    std::vector<AgentId> all_ids;
    for (const auto& n : nodes) all_ids.push_back(n->id);
    for (AgentId s : spare) all_ids.push_back(s);
    if (secure)
      for (AgentId id : all_ids)
        comm::write_keypair(comm::generate_curve_keypair(), keys.string(), "node" + std::to_string(id), true);
    for (int k = 0; k < n_nodes; ++k) {
      NodeInfo& n = *nodes[k];
      apps::LiveNodeConfig c = tmpl;
      c.runtime.agent_id = n.id;
      c.runtime.is_rsu = n.is_rsu;
      c.runtime.comm.mtu_bytes = vm["mtu"].as<int>();
      c.network.listen = "tcp://127.0.0.1:" + std::to_string(base_port + 2 * k);
      c.network.detections_endpoint = "tcp://127.0.0.1:" + std::to_string(base_port + 2 * k + 1);
      c.network.peers.clear();
      for (int j = 0; j < n_nodes; ++j)
        if (j != k) c.network.peers.push_back({nodes[j]->id, "tcp://127.0.0.1:" + std::to_string(base_port + 2 * j), ""});
      c.security.curve = secure;
      c.security.allowed.clear();
      if (secure) {
        const std::string stem = (keys / ("node" + std::to_string(n.id))).string();
        c.security.secret_key_file = stem + ".key";
        c.security.public_key_file = stem + ".pub";
        for (AgentId id : all_ids)
          if (id != n.id) c.security.allowed.push_back({id, "", (keys / ("node" + std::to_string(id) + ".pub")).string()});
      }
      c.source.kind = apps::NodeSourceKind::Sim;
      c.source.driver_endpoint = driver_ep;
      c.output.dir = n.out_dir;
      // The geometric detector needs the ground height in the sensor frame: the LiDAR's mount height.
      c.geometric.ground_z_m = -(n.is_rsu ? scfg.agents.rsu_lidar.mount_height_m : scfg.agents.vehicle_lidar.mount_height_m);
      validate_config(c, n.config);
      std::ofstream(n.config) << "# written by v2x_sim run for agent " << n.id << "\n" << apps::dump_config(c) << "\n";
    }
    spdlog::info("wrote {} node configs{} to {}", n_nodes, secure ? " and key pairs" : "", work.string());
    if (prepare) return 0;
  }

  // ---- frame stream ---------------------------------------------------------------------------------------
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::router_handover, 1);
  router.set(zmq::sockopt::router_mandatory, 1);
  router.set(zmq::sockopt::maxmsgsize, std::int64_t{16} << 20);
  router.set(zmq::sockopt::sndhwm, 64);
  try {
    router.bind(driver_ep);
  } catch (const zmq::error_t& e) {
    throw apps::UsageError("--driver: cannot bind '" + driver_ep + "': " + e.what());
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const fs::path node_bin = vm.count("node-bin") ? fs::path(vm["node-bin"].as<std::string>()) : default_node_bin();
  if (!attach)
    for (auto& n : nodes) n->pid = spawn(node_bin, n->config, (work / ("node" + std::to_string(n->id) + ".log")).string());

  nlohmann::json welcome;
  welcome["scenario"] = simulator->scenario_name();
  if (!vm["no-channel"].as<bool>()) {
    comm::ChannelModelConfig ch;
    ch.latency_ms = vm["latency-ms"].as<double>();
    ch.jitter_ms = vm["jitter-ms"].as<double>();
    ch.loss = vm["loss"].as<double>() > 0 ? comm::LossModel::Bernoulli : comm::LossModel::None;
    ch.loss_rate = vm["loss"].as<double>();
    ch.bandwidth_mbps = vm["bandwidth-mbps"].as<double>();
    ch.mtu_bytes = vm["mtu"].as<int>();
    ch.seed = vm["seed"].as<std::uint64_t>() + 1;
    validate_config(ch, "command line");
    welcome["channel"] = live::channel_to_json(ch);
  } else {
    welcome["channel"] = nullptr;
  }
  const std::string welcome_s = welcome.dump();

  std::map<std::string, NodeInfo*> by_routing;
  for (auto& n : nodes) by_routing[n->routing] = n.get();
  auto send_to = [&](const std::string& routing, std::initializer_list<std::string_view> parts) {
    try {
      router.send(zmq::buffer(routing), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      std::size_t i = 0;
      for (auto p : parts)
        router.send(zmq::buffer(p.data(), p.size()),
                    ++i < parts.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait : zmq::send_flags::dontwait);
      return true;
    } catch (const zmq::error_t&) {
      return false;  // unknown / gone peer (ROUTER_MANDATORY) or full queue
    }
  };

  // Results of the current tick.
  struct Result {
    live::DetectionsMessage msg;
    double e2e_ms = 0;
  };
  std::map<AgentId, Result> tick_results;
  std::int64_t current_frame = -1;
  Clock::time_point tick_sent{};
  std::int64_t membership_welcomes = 0;
  // Handles one incoming message; returns true when a RESULT of the current frame arrived.
  auto handle = [&]() {
    std::vector<zmq::message_t> parts;
    zmq::message_t m;
    if (!router.recv(m, zmq::recv_flags::dontwait)) return false;
    bool more = m.more();
    parts.push_back(std::move(m));
    while (more) {
      zmq::message_t p;
      (void)router.recv(p, zmq::recv_flags::none);
      more = p.more();
      if (parts.size() < 8) parts.push_back(std::move(p));
    }
    if (parts.size() < 2) return false;
    const std::string routing = parts[0].to_string();
    auto it = by_routing.find(routing);
    if (it == by_routing.end()) {
      spdlog::warn("driver: message from unknown node '{}' ignored", routing);
      return false;
    }
    NodeInfo& n = *it->second;
    const std::string kind = parts[1].to_string();
    if (kind == "HELLO") {
      if (send_to(routing, {"WELCOME", welcome_s})) {
        if (n.welcomes > 0) spdlog::info("driver: node {} is back (welcome #{})", n.id, n.welcomes + 1);
        ++n.welcomes;
        ++membership_welcomes;
        n.welcomed = true;
        n.responsive = false;  // waited for from its first frame on
      }
    } else if (kind == "RESULT" && parts.size() >= 3) {
      const auto j = nlohmann::json::parse(parts[2].to_string(), nullptr, false);
      auto msg = live::detections_from_json(j);
      if (!msg || msg->agent != n.id) return false;
      n.last_totals = j.value("totals", nlohmann::json::object());
      ++n.results;
      n.responsive = true;
      if (msg->frame == current_frame) {
        tick_results[n.id] = Result{std::move(*msg), ms_between(tick_sent, Clock::now())};
        return true;
      }
    } else if (kind == "BYE") {
      n.welcomed = false;
      n.responsive = false;
    }
    return false;
  };

  // Wait for every node's HELLO.
  {
    const auto t0 = Clock::now();
    while (!g_interrupted) {
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      while (handle()) {
      }
      int ready = 0;
      for (auto& n : nodes) ready += n->welcomed;
      if (ready == n_nodes) break;
      for (auto& n : nodes)
        if (n->pid > 0) {
          int st = 0;
          if (::waitpid(n->pid, &st, WNOHANG) == n->pid) {
            n->pid = -1;
            throw std::runtime_error("node " + std::to_string(n->id) + " exited at start (see " +
                                     (work / ("node" + std::to_string(n->id) + ".log")).string() + ")");
          }
        }
      if (ms_between(t0, Clock::now()) > vm["join-timeout-ms"].as<double>())
        throw std::runtime_error("only " + std::to_string(ready) + " of " + std::to_string(n_nodes) +
                                 " nodes said HELLO within --join-timeout-ms");
    }
    // Let the mesh form (CurveZMQ handshakes) before the first tick.
    const auto warm = Clock::now();
    while (ms_between(warm, Clock::now()) < 800) {
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      while (handle()) {
      }
    }
    for (auto& n : nodes) n->responsive = n->welcomed;
  }

  // ---- ticks ------------------------------------------------------------------------------------------------
  detection::ApEvaluator ego_eval(eval_cfg);
  std::unique_ptr<detection::DumpWriter> dump;
  if (vm.count("dump")) dump = std::make_unique<detection::DumpWriter>(vm["dump"].as<std::string>());
  const std::string viz = vm.count("viz") ? vm["viz"].as<std::string>() : "";
  if (!viz.empty()) fs::create_directories(viz);
  detection::PercentileAccumulator bytes_acc, e2e_acc;
  std::map<std::string, detection::PercentileAccumulator> stage_acc;
  std::int64_t late_ticks = 0, missing_results = 0, frames_done = 0;
  std::map<AgentId, std::int64_t> results_per_node;
  const bool progress = !vm["no-progress"].as<bool>();
  const auto t_start = Clock::now();
  for (int k = 0; k < frames && !g_interrupted; ++k) {
    if (rate > 0) {
      const auto due = t_start + std::chrono::nanoseconds(static_cast<std::int64_t>(k * 1e9 / rate));
      if (Clock::now() > due + std::chrono::milliseconds(static_cast<int>(500 / rate))) ++late_ticks;
      while (Clock::now() < due && !g_interrupted) {
        zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()) +
                                std::chrono::milliseconds(1));
        while (handle()) {
        }
      }
    }
    const CoopFrame f = k == 0 ? std::move(first) : simulator->step();
    current_frame = k;
    tick_results.clear();
    tick_sent = Clock::now();
    std::set<AgentId> waiting;
    for (auto& n : nodes) {
      if (!n->welcomed) continue;
      const AgentFrame* a = f.agent(n->id);
      if (!a) continue;
      live::StreamFrame sf;
      sf.frame = k;
      sf.scenario = f.scenario;
      sf.timestamp = f.timestamp;
      sf.agent = *a;
      const std::string header = live::encode_frame_header(sf);
      const auto body = live::encode_frame_body(*a);
      const std::string_view bv(reinterpret_cast<const char*>(body.data()), body.size());
      if (send_to(n->routing, {"FRAME", header, bv}) && n->responsive) waiting.insert(n->id);
    }
    const double timeout_ms = vm["tick-timeout-ms"].as<double>();
    while (!g_interrupted) {
      bool all = true;
      for (AgentId id : waiting) all = all && tick_results.count(id);
      if (all) break;
      if (ms_between(tick_sent, Clock::now()) > timeout_ms) {
        for (AgentId id : waiting)
          if (!tick_results.count(id))
            for (auto& n : nodes)
              if (n->id == id) {
                ++n->timeouts;
                n->responsive = false;
                spdlog::warn("driver: node {} did not answer frame {} within {:.0f} ms", id, k, timeout_ms);
              }
        break;
      }
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(5));
      while (handle()) {
      }
    }
    // Evaluation: every node in its own true LiDAR frame; the ego is the report's.
    for (auto& n : nodes) {
      const AgentFrame* a = f.agent(n->id);
      if (!a) continue;
      const Pose T_agent_world = a->T_world_lidar.inverse();
      std::vector<Object3D> gt;
      for (const auto& o : f.gt_world)
        if (is_vehicle(o.cls)) {
          Object3D e = o;
          e.box = o.box.transformed(T_agent_world);
          gt.push_back(e);
        }
      auto r = tick_results.find(n->id);
      const std::vector<Detection> none;
      const std::vector<Detection>& dets = r == tick_results.end() ? none : r->second.msg.detections;
      if (r == tick_results.end()) ++missing_results;
      n->eval.add_frame(dets, gt);
      if (n->id == ego_id) {
        const detection::FrameEval fe = ego_eval.add_frame(dets, gt);
        if (dump) dump->write(f.scenario + "/" + f.timestamp, ego_id, fe);
        if (!viz.empty()) {
          char name[32];
          std::snprintf(name, sizeof name, "ego_%06d.png", k);
          apps::write_bev_png((fs::path(viz) / name).string(), a->cloud, fe.gt, fe.detections, eval_cfg.gt_range);
        }
        if (r != tick_results.end())
          for (const auto& [stage, ms] : r->second.msg.ms) stage_acc[stage].add(ms);
      }
      if (r != tick_results.end()) {
        ++results_per_node[n->id];
        e2e_acc.add(r->second.e2e_ms);
        if (r->second.msg.bytes_sent > 0) bytes_acc.add(static_cast<double>(r->second.msg.bytes_sent));
      }
    }
    ++frames_done;
    // RSS of the nodes started here: first sample after the first 10 s (warm), then every 10 s.
    if (rate > 0 ? (k + 1) % static_cast<int>(std::max(1.0, 10 * rate)) == 0 : (k + 1) % 100 == 0)
      for (auto& n : nodes)
        if (n->pid > 0) {
          const double r = rss_mib(n->pid);
          if (r < 0) continue;
          if (n->rss_first_mib < 0) n->rss_first_mib = r;
          n->rss_last_mib = r;
          n->rss_max_mib = std::max(n->rss_max_mib, r);
        }
    if (progress) {
      const double el = ms_between(t_start, Clock::now()) / 1000;
      const int width = 30, filled = width * (k + 1) / frames;
      int answered = static_cast<int>(tick_results.size());
      std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] " << (k + 1) << "/"
                << frames << " ticks  " << answered << "/" << n_nodes << " nodes  " << fmt_s(el) << " elapsed  ETA "
                << fmt_s(el / (k + 1) * (frames - k - 1)) << "   " << std::flush;
    }
  }
  if (progress) std::cerr << "\n";
  const double wall_s = ms_between(t_start, Clock::now()) / 1000;

  // ---- shutdown ---------------------------------------------------------------------------------------------
  for (auto& n : nodes) send_to(n->routing, {"STOP"});
  std::map<AgentId, int> exit_codes;
  {
    const auto t0 = Clock::now();
    bool any = true;
    while (any && ms_between(t0, Clock::now()) < 5000) {
      any = false;
      for (auto& n : nodes) {
        if (n->pid <= 0) continue;
        int st = 0;
        if (::waitpid(n->pid, &st, WNOHANG) == n->pid) {
          exit_codes[n->id] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
          n->pid = -1;
        } else {
          any = true;
        }
      }
      zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(20));
      while (handle()) {
      }
    }
    for (auto& n : nodes)
      if (n->pid > 0) {
        ::kill(n->pid, SIGTERM);
        int st = 0;
        ::waitpid(n->pid, &st, 0);
        exit_codes[n->id] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        spdlog::warn("driver: node {} did not stop on STOP; sent SIGTERM", n->id);
      }
  }

  // ---- report -----------------------------------------------------------------------------------------------
  detection::EvalReport rep;
  rep.frames = frames_done;
  rep.agents = n_nodes;
  rep.method = std::string(enum_name(tmpl.runtime.fusion)) + " (live nodes, " + std::string(enum_name(tmpl.perception)) +
               " perception)";
  rep.set_ap(ego_eval.summary());
  rep.set_bytes(bytes_acc);
  for (const char* s : apps::StageTimes::kNames) rep.add_latency(s, stage_acc[s]);
  nlohmann::ordered_json per_node = nlohmann::ordered_json::object();
  std::int64_t refused = 0, spoofed = 0, malformed = 0;
  for (auto& n : nodes) {
    const auto& t = n->last_totals;
    rep.dropped.stale += t.value("dropped_stale", 0);
    rep.dropped.corrupt += t.value("dropped_corrupt", 0);
    rep.dropped.unauthenticated += t.value("dropped_unauthenticated", 0);
    refused += t.value("refused_connections", 0);
    spoofed += t.value("spoofed", 0);
    malformed += t.value("malformed", 0);
    const auto s = n->eval.summary();
    nlohmann::ordered_json pn;
    pn["is_rsu"] = n->is_rsu;
    pn["ap"] = detection::ap_json(s, false);
    pn["results"] = results_per_node[n->id];
    pn["timeouts"] = n->timeouts;
    pn["welcomes"] = n->welcomes;
    pn["exit_code"] = exit_codes.count(n->id) ? exit_codes[n->id] : -1;
    pn["rss_mib"] = {{"first", n->rss_first_mib}, {"last", n->rss_last_mib}, {"max", n->rss_max_mib}};
    pn["bytes_sent_per_s"] = wall_s > 0 ? t.value("bytes_sent", 0) / wall_s : 0.0;
    pn["totals"] = nlohmann::ordered_json::parse(t.dump());
    per_node[std::to_string(n->id)] = pn;
  }
  rep.extra["live"] = {{"ego", ego_id},
                       {"wall_s", wall_s},
                       {"rate_hz", rate},
                       {"late_ticks", late_ticks},
                       {"missing_results", missing_results},
                       {"e2e_ms", {{"median", e2e_acc.median()}, {"p95", e2e_acc.p95()}, {"p99", e2e_acc.p99()}, {"max", e2e_acc.max()}}},
                       {"refused_connections", refused},
                       {"spoofed", spoofed},
                       {"malformed", malformed},
                       {"security", secure ? "curve" : "none"},
                       {"channel", nlohmann::ordered_json::parse(welcome["channel"].dump())},
                       {"scenario", simulator->scenario_name()},
                       {"work", work.string()}};
  rep.extra["nodes"] = per_node;
  if (vm.count("report")) write_report(rep, vm["report"].as<std::string>());
  if (dump) dump->flush();
  spdlog::info("{} ticks × {} nodes in {:.1f} s: ego AP@0.5 {:.3f}, e2e median {:.1f} ms p99 {:.1f} ms, {} missing "
               "results, {} late ticks, {} refused connections",
               frames_done, n_nodes, wall_s, ego_eval.ap(0.5, false), e2e_acc.median(), e2e_acc.p99(), missing_results,
               late_ticks, refused);
  if (g_interrupted) return 130;
  return 0;
}

}  // namespace v2x::simrun
