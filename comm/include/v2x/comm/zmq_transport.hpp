#pragma once
// ZeroMQ PUB/SUB transport between processes (cppzmq). Each node binds one PUB socket and connects one SUB
// socket to its peers' PUB endpoints. A message is one multipart ZeroMQ message:
//   frame 0: topic "v2x" + 8 lowercase hex digits of the sender id (as uint32) — SUB filters by prefix
//   frame 1: batch counter, u64 little-endian
//   frame 2..: the datagrams (wire-v1 messages or fragments), in order
// Sends never block (ZMQ_DONTWAIT; PUB drops at the high-water mark). poll() drains everything waiting and,
// with keep_newest_only, keeps only each peer's newest batch (ZMQ_CONFLATE cannot be used: it breaks
// multipart messages and topics). Sockets only on 127.0.0.1 / inproc:// in tests.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "v2x/comm/transport.hpp"

namespace v2x::comm {

enum class ZmqSocketRole { Publisher, Subscriber };

struct ZmqTransportOptions {
  std::string bind_endpoint = "tcp://127.0.0.1:*";  // PUB; "*" port: the OS picks one (see endpoint())
  std::vector<std::string> peer_endpoints;           // PUB endpoints of peers the SUB connects to
  std::vector<AgentId> subscribe_to;                 // empty: every sender
  int send_hwm = 16;                                 // messages queued per peer before PUB drops
  int recv_hwm = 64;
  int linger_ms = 0;
  bool keep_newest_only = true;
  // Security hook (CurveZMQ keys, ZAP domain, …): called on each socket before bind/connect. A later issue
  // adds key material and an allow-list here; everything a socket option can express fits this hook.
  std::function<void(zmq::socket_t&, ZmqSocketRole)> configure_socket;
  // Shared context (required for inproc:// endpoints between transports); null: the transport owns one.
  std::shared_ptr<zmq::context_t> context;
};

class ZmqTransport final : public Transport {
 public:
  // Throws std::runtime_error naming the endpoint when bind/connect fails (a setup error).
  ZmqTransport(AgentId self, ZmqTransportOptions options);
  ~ZmqTransport() override;
  AgentId self() const override { return self_; }
  bool send(std::span<const Bytes> datagrams) override;
  using Transport::send;
  // Waits (zmq_poll) until deadline_ns on the steady clock, or until `min_peers` distinct peers have data.
  std::vector<Datagram> poll(TimestampNs deadline_ns, std::size_t min_peers = 0) override;
  TimestampNs now_ns() const override;
  std::string endpoint() const { return endpoint_; }  // the PUB's resolved endpoint
  void connect(const std::string& peer_endpoint);

  static std::string topic_of(AgentId id);

 private:
  // Receives every waiting multipart message without blocking.
  void drain(std::vector<Datagram>& out);

  AgentId self_;
  ZmqTransportOptions opt_;
  std::shared_ptr<zmq::context_t> ctx_;
  zmq::socket_t pub_, sub_;
  std::string endpoint_;
  std::uint64_t batch_ = 0;
};

}  // namespace v2x::comm
