#pragma once
// Transport: how a node's encoded messages reach its peers. One Transport per agent (not thread-safe).
// A *message* is a batch of 1..n datagrams sent together (the fragments of one frame, or one unfragmented
// wire-v1 message); datagrams may be lost individually (channel model) or as a batch (ZeroMQ multipart).
// Implementations: InProcessTransport (replay, below), ChannelTransport (channel_model.hpp: delay, jitter,
// loss, bandwidth, MTU on a simulated clock) and ZmqTransport (zmq_transport.hpp: PUB/SUB between processes).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "v2x/comm/codec.hpp"
#include "v2x/core/types.hpp"

namespace v2x::comm {

struct Datagram {
  AgentId sender = 0;
  std::uint64_t batch = 0;  // per-sender counter of send() calls: datagrams of one message share it
  Bytes bytes;
  TimestampNs arrival_ns = 0;  // on the transport's clock
};

// Counters; bytes are datagram payload bytes (wire-v1 messages), counted where they are sent.
struct TransportStats {
  std::uint64_t messages_sent = 0;
  std::uint64_t datagrams_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t send_failures = 0;        // datagrams the transport could not send (would block, too large, queue full)
  std::uint64_t datagrams_received = 0;   // returned by poll
  std::uint64_t bytes_received = 0;
  std::uint64_t dropped_superseded = 0;   // older batches of a peer dropped because a newer one was waiting
  std::uint64_t malformed = 0;            // transport framing errors (ZeroMQ multipart shape)
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual AgentId self() const = 0;
  // Sends one message (its datagrams, in order) to every peer, without blocking. Returns false when some
  // datagram could not be handed to the network (counted in stats().send_failures).
  virtual bool send(std::span<const Bytes> datagrams) = 0;
  bool send(const Bytes& message) { return send(std::span<const Bytes>(&message, 1)); }
  // Datagrams from peers that arrive until `deadline_ns` on now_ns()'s clock. Returns early once datagrams of
  // at least `min_peers` distinct peers are held (0: wait for the deadline). A peer that is behind yields only
  // its newest batch when keep-newest is on (the default everywhere).
  virtual std::vector<Datagram> poll(TimestampNs deadline_ns, std::size_t min_peers = 0) = 0;
  // The transport's clock (steady clock for ZeroMQ, the simulated clock for the channel model and in-process hub).
  virtual TimestampNs now_ns() const = 0;
  const TransportStats& stats() const { return stats_; }

 protected:
  TransportStats stats_;
};

// Keeps, per sender, only the datagrams of its highest batch; returns how many were dropped. Order is kept.
std::size_t keep_newest_per_peer(std::vector<Datagram>& datagrams);

// ---- in-process transport (replay: every agent in one process) ----------------------------------------------
// The hub delivers every datagram to every other attached agent immediately, stamped with the hub's clock.
class InProcessHub {
 public:
  void set_time(TimestampNs t_ns);
  TimestampNs now_ns() const;

 private:
  friend class InProcessTransport;
  mutable std::mutex mutex_;
  TimestampNs now_ns_ = 0;
  std::map<AgentId, std::vector<Datagram>> inbox_;
};

class InProcessTransport final : public Transport {
 public:
  InProcessTransport(std::shared_ptr<InProcessHub> hub, AgentId self, bool keep_newest_only = true);
  ~InProcessTransport() override;
  AgentId self() const override { return self_; }
  bool send(std::span<const Bytes> datagrams) override;
  using Transport::send;
  std::vector<Datagram> poll(TimestampNs deadline_ns, std::size_t min_peers = 0) override;
  TimestampNs now_ns() const override { return hub_->now_ns(); }

 private:
  std::shared_ptr<InProcessHub> hub_;
  AgentId self_;
  bool keep_newest_;
  std::uint64_t batch_ = 0;
};

}  // namespace v2x::comm
