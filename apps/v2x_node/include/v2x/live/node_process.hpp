#pragma once
// One live node: config → keys → perception + fuser + MeshTransport (+ channel model from the driver) →
// NodeRuntime, driven frame by frame from the simulator's frame stream or a dataset (docs/nodes.md).
#include <atomic>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "v2x/apps/live_node_config.hpp"
#include "v2x/apps/node_runtime.hpp"
#include "v2x/apps/runtime_factory.hpp"
#include "v2x/comm/mesh_transport.hpp"
#include "v2x/comm/shaped_transport.hpp"
#include "v2x/live/stream.hpp"

namespace v2x::live {

class NodeProcess {
 public:
  // Setup errors (bad keys, endpoints, model) throw ConfigError naming the file and key, or runtime_error.
  NodeProcess(apps::LiveNodeConfig cfg, std::string config_file, const std::atomic<bool>& stop);
  ~NodeProcess();
  // Runs until the source ends, STOP, or a signal; returns the exit code.
  int run();

 private:
  void build_runtime(const std::optional<comm::ChannelModelConfig>& channel);
  // One tick: NodeRuntime::tick + outputs. Returns the message (also published / written).
  DetectionsMessage tick(const StreamFrame& f);
  void write_outputs(const DetectionsMessage& m);
  int run_sim();
  int run_dataset();

  apps::LiveNodeConfig cfg_;
  std::string file_;
  const std::atomic<bool>& stop_;
  std::shared_ptr<zmq::context_t> ctx_;
  comm::MeshTransportOptions mesh_opt_;
  comm::MeshTransport* mesh_ = nullptr;       // owned by runtime_ (through the transport chain)
  comm::ShapedTransport* shaped_ = nullptr;   // idem, when a channel model is on
  std::unique_ptr<apps::RuntimeModels> models_;  // perception: learned
  std::shared_ptr<apps::Perception> perception_;
  std::unique_ptr<apps::NodeRuntime> runtime_;
  std::unique_ptr<zmq::socket_t> det_pub_;
  int jsonl_fd_ = -1;  // <output.dir>/detections.jsonl
  std::int64_t missed_ticks_ = 0, ticks_ = 0;
  apps::DropCounts drops_total_;
};

}  // namespace v2x::live
