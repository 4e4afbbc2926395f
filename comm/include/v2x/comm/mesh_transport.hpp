#pragma once
// MeshTransport: live nodes over ZeroMQ with CurveZMQ security and run-time membership (docs/nodes.md,
// docs/security.md). Unlike ZmqTransport (PUB binds, SUB connects), each node here BINDS its inbox (a SUB
// socket, the CurveZMQ server) and CONNECTS its PUB (a CurveZMQ client) to every peer's inbox, so the receiver's
// ZAP handler authenticates the *sender* of every message: a connection is accepted only from an allow-listed
// public key and is labelled with that key's node id (ZeroMQ "User-Id" message property). A message whose
// topic id or wire-v1 sender_id differs from its connection's authenticated id is dropped (spoofed) — an
// allow-listed node cannot speak for another.
//
// Framing (one ZeroMQ multipart message):
//   data   frame 0 "v2x" + 8 lowercase hex digits of the sender id (u32) | frame 1 batch u64 LE |
//          frames 2…: datagrams (wire-v1 messages / fragments / points messages), as ZmqTransport
//   hello  frame 0 "v2x-hello" | frame 1: text, one record per line, ≤ 64 KiB:
//            "self <id> <inbox endpoint>" then "member <id> <inbox endpoint>" per live member known
// Membership: every node sends a hello every hello_interval_ms. A hello (authenticated) from an unknown node
// makes the receiver connect its PUB to that node's inbox (with the key the allow-list gives that id), so a
// joining node needs only one reachable static peer; "member" lines spread the rest (gossip). A member silent
// for peer_timeout_ms is dropped (log line, `left` counter); its next message welcomes it back (`returned`).
// ZeroMQ keeps reconnecting to known inboxes (reconnect_ivl_ms), so a restarted node is heard again within
// about reconnect_ivl_ms + one tick.
//
// Bounds (nothing a peer sends can block a tick or grow memory without limit): inbox max message part size
// (ZMQ_MAXMSGSIZE: larger → the peer is disconnected), receive HWM, at most max_drain_messages per poll, at most
// max_members members, every parse bounded. Sends never block (PUB drops at the HWM).
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "v2x/comm/curve_keys.hpp"
#include "v2x/comm/transport.hpp"

namespace v2x::comm {

struct MeshPeer {
  AgentId id = 0;
  std::string endpoint;    // inbox endpoint (tcp://host:port); may be empty in an allow-list entry
  std::string public_z85;  // CURVE public key (empty without security)
};

struct MeshTransportOptions {
  std::string listen_endpoint = "tcp://127.0.0.1:*";  // this node's inbox (SUB, bound)
  std::string advertise_endpoint;                     // told to peers; empty: the resolved listen endpoint
  std::vector<MeshPeer> static_peers;                 // connected at start (ZeroMQ retries absent ones)
  // Security: with curve on, secret/public are this node's keys and `allowed` is the allow-list (id + key;
  // a static peer must be on it). Without curve every connection is accepted (NULL mechanism).
  bool curve = false;
  std::string secret_z85, public_z85;
  std::vector<MeshPeer> allowed;
  std::string zap_domain = "v2x-mesh";
  // Membership.
  double hello_interval_ms = 200;
  double peer_timeout_ms = 1000;
  int reconnect_ivl_ms = 100;
  std::size_t max_members = 1024;
  // Bounds.
  int send_hwm = 16;
  int recv_hwm = 64;
  std::int64_t max_message_bytes = 16 << 20;  // per message part
  std::size_t max_drain_messages = 4096;      // per poll
  bool keep_newest_only = true;
  // Shared context (one ZAP handler per context); null: the transport owns one.
  std::shared_ptr<zmq::context_t> context;
};

struct MembershipEvent {
  AgentId id = 0;
  enum Kind { Joined, Left, Returned } kind = Joined;
  TimestampNs at_ns = 0;
};

struct MeshStats {
  std::uint64_t hellos_sent = 0, hellos_received = 0;
  std::uint64_t joined = 0, left = 0, returned = 0;  // membership events
  std::uint64_t spoofed = 0;      // topic / wire sender id ≠ authenticated id (dropped)
  std::uint64_t bad_hello = 0;    // malformed hello (dropped)
  std::uint64_t connects = 0;     // PUB connections opened to peer inboxes
  std::uint64_t refused = 0;      // connections the ZAP handler refused (unknown key)
  std::uint64_t drain_capped = 0; // polls that stopped at max_drain_messages
};

class MeshTransport final : public Transport {
 public:
  // Throws std::runtime_error naming the endpoint / key problem (setup errors).
  MeshTransport(AgentId self, MeshTransportOptions options);
  ~MeshTransport() override;
  AgentId self() const override { return self_; }
  bool send(std::span<const Bytes> datagrams) override;
  using Transport::send;
  // Also sends hellos when due and applies the membership timeout.
  std::vector<Datagram> poll(TimestampNs deadline_ns, std::size_t min_peers = 0) override;
  TimestampNs now_ns() const override;

  std::string endpoint() const { return endpoint_; }  // resolved inbox endpoint
  // Live members (heard within peer_timeout_ms), sorted.
  std::vector<AgentId> members() const;
  MeshStats mesh_stats() const;
  // Events since the last call (for logs / outputs).
  std::vector<MembershipEvent> take_events();
  // Senders whose datagrams poll() returned since the last call (authenticated ids), sorted.
  std::vector<AgentId> take_heard();
  // Connects to a peer inbox at run time (e.g. told by an operator); ignored for unknown ids under curve.
  void add_peer(const MeshPeer& peer);

  static std::string hello_topic() { return "v2x-hello"; }
  // Sender id of a wire-v1 or points datagram (header peek, no decode); nullopt for anything else.
  static std::optional<AgentId> peek_sender(std::span<const std::uint8_t> bytes);

 private:
  struct Member {
    std::string endpoint;        // advertised inbox
    std::string connected;       // endpoint our PUB is connected to ("" = none)
    TimestampNs last_heard_ns = 0;
    bool alive = false, ever = false;
  };
  void drain(std::vector<Datagram>& out, TimestampNs deadline_ns);
  void heard(AgentId id, TimestampNs t);
  void handle_hello(AgentId from, const std::string& text, TimestampNs t);
  void ensure_connected(AgentId id, const std::string& endpoint);
  void maybe_hello(TimestampNs t);
  void expire(TimestampNs t);
  const MeshPeer* allowed_entry(AgentId id) const;

  AgentId self_;
  MeshTransportOptions opt_;
  std::shared_ptr<zmq::context_t> ctx_;
  std::unique_ptr<ZapAuthenticator> zap_;
  zmq::socket_t pub_, sub_;
  std::string endpoint_, advertise_;
  std::uint64_t batch_ = 0;
  std::map<AgentId, Member> members_;
  std::vector<MembershipEvent> events_;
  std::set<AgentId> heard_since_take_;
  TimestampNs last_hello_ns_ = 0;
  MeshStats mstats_;
};

}  // namespace v2x::comm
