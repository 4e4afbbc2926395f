#pragma once
// Configuration of one live node process (v2x_node --config config/node/<name>.yaml, docs/nodes.md).
// A superset of NodeConfig: the file holds NodeConfig's keys at the top level (what the runtime runs) plus
// `perception`, `network`, `security`, `source` and `output` (how the process is wired). Every NodeConfig file
// is therefore a valid node file; the "node" config kind (config_registry.cpp) loads this struct.
// Key file paths and dataset paths are relative to the working directory (like model_dir).
#include <cstdint>
#include <string>
#include <vector>

#include "v2x/apps/node_config.hpp"
#include "v2x/core/config.hpp"

namespace v2x::apps {

enum class NodeSourceKind { Sim = 0, Dataset = 1 };
enum class NodePerceptionKind { Learned = 0, Geometric = 1 };

}  // namespace v2x::apps
template <>
struct v2x::EnumNames<v2x::apps::NodeSourceKind> {
  static constexpr std::array<std::string_view, 2> names{"sim", "dataset"};
};
template <>
struct v2x::EnumNames<v2x::apps::NodePerceptionKind> {
  static constexpr std::array<std::string_view, 2> names{"learned", "geometric"};
};

namespace v2x::apps {

// A peer: on `network.peers` (static peers, endpoint required) or on `security.allowed` (allow-list, key required).
struct PeerEntry {
  int id = 0;
  std::string endpoint;         // the peer's inbox, e.g. tcp://127.0.0.1:5601
  std::string public_key_file;  // its CURVE public key (Z85 text, v2x_node keygen)
  template <class V>
  void visit(V& v) {
    v("id", id, Range{-2147483647.0, 2147483647.0});
    v("endpoint", endpoint);
    v("public_key_file", public_key_file);
  }
};

struct NodeNetworkConfig {
  std::string listen = "tcp://127.0.0.1:*";  // this node's inbox (bound); "*" port: the OS picks one
  std::string advertise;                     // endpoint told to peers; empty: the resolved listen endpoint
  std::string detections_endpoint;           // PUB of detection messages (docs/nodes.md); empty: none
  std::vector<PeerEntry> peers;              // static peers, connected at start
  double hello_interval_ms = 200;            // membership hello period
  double peer_timeout_ms = 1000;             // a peer silent this long is dropped (and welcomed back later)
  int reconnect_ivl_ms = 100;                // ZeroMQ reconnect interval to absent peers
  int send_hwm = 16;
  int recv_hwm = 64;
  int max_message_kib = 16384;               // a peer sending a larger message part is disconnected
  template <class V>
  void visit(V& v) {
    v("listen", listen);
    v("advertise", advertise);
    v("detections_endpoint", detections_endpoint);
    v("peers", peers);
    v("hello_interval_ms", hello_interval_ms, Range{10, 60000});
    v("peer_timeout_ms", peer_timeout_ms, Range{50, 3.6e6});
    v("reconnect_ivl_ms", reconnect_ivl_ms, Range{10, 60000});
    v("send_hwm", send_hwm, Range{1, 100000});
    v("recv_hwm", recv_hwm, Range{1, 100000});
    v("max_message_kib", max_message_kib, Range{1, 1 << 20});
  }
};

struct NodeSecurityConfig {
  bool curve = false;                 // CurveZMQ encryption + authentication (docs/security.md)
  std::string secret_key_file;        // this node's secret key (mode 0600)
  std::string public_key_file;        // this node's public key
  std::vector<PeerEntry> allowed;     // allow-list: only these keys may send to this node (id bound to key)
  template <class V>
  void visit(V& v) {
    v("curve", curve);
    v("secret_key_file", secret_key_file);
    v("public_key_file", public_key_file);
    v("allowed", allowed);
  }
};

struct NodeSourceConfig {
  NodeSourceKind kind = NodeSourceKind::Sim;
  std::string driver_endpoint = "tcp://127.0.0.1:5550";  // sim: the v2x_sim run frame stream (docs/nodes.md)
  double driver_timeout_ms = 10000;  // sim: give up when the driver is silent this long
  std::string dataset;               // dataset: a dataset folder (sensors::open_dataset)
  std::string dataset_format = "opv2v";  // opv2v | v2xset | dair | kitti
  bool real_time = true;             // dataset: replay at the frames' timestamps; false: as fast as possible
  std::int64_t max_frames = 0;       // 0: all
  template <class V>
  void visit(V& v) {
    v("kind", kind);
    v("driver_endpoint", driver_endpoint);
    v("driver_timeout_ms", driver_timeout_ms, Range{100, 3.6e6});
    v("dataset", dataset);
    v("dataset_format", dataset_format);
    v("real_time", real_time);
    v("max_frames", max_frames, Range{0, 1e12});
  }
};

struct NodeOutputConfig {
  std::string dir = "out/node";  // <dir>/detections.jsonl and <dir>/kitti/<frame>.txt
  bool jsonl = true;
  bool kitti = true;
  template <class V>
  void visit(V& v) {
    v("dir", dir);
    v("jsonl", jsonl);
    v("kitti", kitti);
  }
};

// Non-learned BEV perception (v2x_node perception: geometric): points above the ground → occupancy grid →
// connected components → oriented boxes. A fast, weak, real detector for fleets on small machines and tests.
struct GeometricPerceptionConfig {
  double range_m = 60;          // square BEV window ±range_m around the sensor
  double cell_m = 0.4;          // occupancy cell
  double ground_z_m = -1.4;     // points below ground_z_m + min_height_m are ground (sensor frame)
  double min_height_m = 0.3;
  double max_height_m = 3.0;    // above ground; higher points (canopies, signs) are ignored
  int min_points = 8;           // a component needs this many points
  double min_length_m = 1.5;    // vehicle-sized components only
  double max_length_m = 12;
  double max_width_m = 4;
  template <class V>
  void visit(V& v) {
    v("range_m", range_m, Range{5, 500});
    v("cell_m", cell_m, Range{0.05, 5});
    v("ground_z_m", ground_z_m, Range{-20, 20});
    v("min_height_m", min_height_m, Range{0, 10});
    v("max_height_m", max_height_m, Range{0.1, 50});
    v("min_points", min_points, Range{1, 100000});
    v("min_length_m", min_length_m, Range{0, 100});
    v("max_length_m", max_length_m, Range{0.1, 100});
    v("max_width_m", max_width_m, Range{0.1, 100});
  }
};

struct LiveNodeConfig {
  NodeConfig runtime;  // flattened: NodeConfig's keys sit at the top level of the file
  NodePerceptionKind perception = NodePerceptionKind::Learned;
  GeometricPerceptionConfig geometric;
  NodeNetworkConfig network;
  NodeSecurityConfig security;
  NodeSourceConfig source;
  NodeOutputConfig output;

  template <class V>
  void visit(V& v) {
    runtime.visit(v);
    v("perception", perception);
    v("geometric", geometric);
    v("network", network);
    v("security", security);
    v("source", source);
    v("output", output);
  }
  // Cross-field rules (file paths are checked when the node starts: missing key files are ConfigErrors there).
  void check(const std::string& file) const {
    runtime.check(file);
    for (std::size_t i = 0; i < network.peers.size(); ++i)
      if (network.peers[i].endpoint.empty())
        throw ConfigError(file, "network.peers[" + std::to_string(i) + "].endpoint", "a static peer needs an endpoint");
    if (security.curve) {
      if (security.secret_key_file.empty()) throw ConfigError(file, "security.secret_key_file", "required with curve: true");
      if (security.public_key_file.empty()) throw ConfigError(file, "security.public_key_file", "required with curve: true");
      for (std::size_t i = 0; i < security.allowed.size(); ++i)
        if (security.allowed[i].public_key_file.empty())
          throw ConfigError(file, "security.allowed[" + std::to_string(i) + "].public_key_file", "required");
      for (std::size_t i = 0; i < network.peers.size(); ++i) {
        bool listed = false;
        for (const auto& a : security.allowed) listed = listed || a.id == network.peers[i].id;
        if (!listed)
          throw ConfigError(file, "network.peers[" + std::to_string(i) + "].id",
                            "static peer " + std::to_string(network.peers[i].id) + " is not on security.allowed");
      }
    }
    if (source.kind == NodeSourceKind::Dataset && source.dataset.empty())
      throw ConfigError(file, "source.dataset", "required with kind: dataset");
    if (geometric.min_length_m > geometric.max_length_m)
      throw ConfigError(file, "geometric.min_length_m", "must not exceed geometric.max_length_m");
  }
};

}  // namespace v2x::apps
