// v2x_node: one agent (vehicle or roadside unit) as one process (docs/nodes.md).
//   v2x_node --config config/node/<name>.yaml [--agent-id N] [--listen EP] [--out DIR]
//       runs NodeRuntime per sensor frame (from the simulator driver's frame stream or a dataset), talks to its
//       peers over ZeroMQ (MeshTransport: CurveZMQ + allow-list + membership), publishes its detections on the
//       "det<id>" topic and writes them (detections.jsonl + KITTI-style text). SIGINT/SIGTERM: clean shutdown.
//   v2x_node keygen --out DIR [--name node] [--force]
//       writes DIR/<name>.key (secret, mode 0600) and DIR/<name>.pub (CurveZMQ, Z85).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "v2x/apps/cli.hpp"
#include "v2x/apps/config_yaml.hpp"
#include "v2x/apps/live_node_config.hpp"
#include "v2x/comm/curve_keys.hpp"
#include "v2x/live/node_process.hpp"

namespace fs = std::filesystem;
using namespace v2x;
namespace po = boost::program_options;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

int keygen(int argc, const char* const* argv) {
  po::options_description d("v2x_node keygen");
  apps::add_common_options(d);
  d.add_options()("out", po::value<std::string>(), "folder for <name>.key and <name>.pub")(
      "name", po::value<std::string>()->default_value("node"), "file name stem")(
      "force", po::bool_switch(), "overwrite existing key files");
  po::variables_map vm;
  if (!apps::parse_command_line(argc, argv, d, vm, "usage: v2x_node keygen --out DIR [--name NAME] [--force]")) return 0;
  if (!vm.count("out")) throw apps::UsageError("--out is required");
  const std::string name = vm["name"].as<std::string>();
  if (name.empty() || name.find('/') != std::string::npos) throw apps::UsageError("--name must be a plain file name");
  const auto keys = comm::generate_curve_keypair();
  try {
    comm::write_keypair(keys, vm["out"].as<std::string>(), name, vm["force"].as<bool>());
  } catch (const std::runtime_error& e) {
    throw apps::UsageError(e.what());
  }
  std::cout << keys.public_z85 << "\n";
  spdlog::info("wrote {0}/{1}.key (secret, 0600) and {0}/{1}.pub", vm["out"].as<std::string>(), name);
  return 0;
}

int run(int argc, const char* const* argv) {
  po::options_description d("v2x_node");
  apps::add_common_options(d);
  d.add_options()("config", po::value<std::string>(), "node config YAML (config/node/*.yaml)")(
      "agent-id", po::value<int>(), "override agent_id")("listen", po::value<std::string>(), "override network.listen")(
      "driver", po::value<std::string>(), "override source.driver_endpoint")(
      "out", po::value<std::string>(), "override output.dir")("print-config", po::bool_switch(),
                                                                "print the effective config and exit");
  po::variables_map vm;
  if (!apps::parse_command_line(argc, argv, d, vm, "usage: v2x_node --config FILE [options] | v2x_node keygen --out DIR"))
    return 0;
  if (!vm.count("config")) throw apps::UsageError("--config is required");
  const std::string file = vm["config"].as<std::string>();
  auto cfg = apps::load_config<apps::LiveNodeConfig>(file);
  if (vm.count("agent-id")) cfg.runtime.agent_id = vm["agent-id"].as<int>();
  if (vm.count("listen")) cfg.network.listen = vm["listen"].as<std::string>();
  if (vm.count("driver")) cfg.source.driver_endpoint = vm["driver"].as<std::string>();
  if (vm.count("out")) cfg.output.dir = vm["out"].as<std::string>();
  if (vm["print-config"].as<bool>()) {
    std::cout << apps::dump_config(cfg) << "\n";
    return 0;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  live::NodeProcess node(cfg, file, g_stop);
  return node.run();
}

}  // namespace

int main(int argc, char** argv) {
  return apps::run_main("v2x_node", [&]() -> int {
    if (argc >= 2 && std::string(argv[1]) == "keygen") return keygen(argc - 1, argv + 1);
    return run(argc, argv);
  });
}
