#pragma once
// ShapedTransport: the channel model (channel_model.hpp: latency, jitter, loss, bandwidth cap, MTU) applied on
// the receive side of a live transport, on the steady clock. Every datagram the inner transport delivers from
// peer P goes through P's own ChannelMedium (seeded per link exactly as the simulated medium is) and is handed
// out once its modelled arrival time has passed. Used by v2x_node when the simulator driver (v2x_sim run) asks
// for a channel between live nodes: the model runs at each receiver, so real ZeroMQ + CurveZMQ traffic stays
// end to end (docs/nodes.md). The bandwidth cap is the sender's token bucket as each receiver sees it.
//
// The inner transport should not keep only the newest batch per peer (keep_newest_only = false): a batch it
// drops never enters the channel. The shaper keeps the newest per peer on what it delivers.
// Delivery resolution: the inner transport is polled in steps of at most step_ms, so datagrams come out at
// most step_ms late against the model. Memory: at most max_peers media; each holds only datagrams in flight.
#include <map>
#include <memory>

#include "v2x/comm/channel_model.hpp"
#include "v2x/comm/transport.hpp"

namespace v2x::comm {

class ShapedTransport final : public Transport {
 public:
  ShapedTransport(std::unique_ptr<Transport> inner, ChannelModelConfig cfg, double step_ms = 2.0,
                  std::size_t max_peers = 1024);
  AgentId self() const override { return inner_->self(); }
  bool send(std::span<const Bytes> datagrams) override;
  using Transport::send;
  std::vector<Datagram> poll(TimestampNs deadline_ns, std::size_t min_peers = 0) override;
  TimestampNs now_ns() const override { return inner_->now_ns(); }
  Transport& inner() { return *inner_; }
  ChannelStats channel_stats() const;  // summed over every peer's medium

 private:
  struct Link {
    std::unique_ptr<ChannelMedium> medium;
    std::unique_ptr<ChannelTransport> tx, rx;  // tx: the peer's side, rx: ours
  };
  Link* link_of(AgentId peer);
  void sync_send_stats();

  std::unique_ptr<Transport> inner_;
  ChannelModelConfig cfg_;
  double step_ms_;
  std::size_t max_peers_;
  std::map<AgentId, Link> links_;
};

}  // namespace v2x::comm
