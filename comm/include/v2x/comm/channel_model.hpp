#pragma once
// A simulated V2X radio channel on a simulated clock (deterministic for a given seed and call order):
// broadcast from each sender through a per-sender token bucket (bandwidth cap), then to each receiver with
// latency + uniform jitter and independent per-link loss (Bernoulli or bursty Gilbert–Elliott). Datagrams
// above the MTU are not sent (counted). Used by replay and the simulator.
#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <vector>

#include "v2x/comm/transport.hpp"
#include "v2x/core/config.hpp"
#include "v2x/core/rng.hpp"

namespace v2x::comm {

enum class LossModel { None = 0, Bernoulli = 1, GilbertElliott = 2 };
}  // namespace v2x::comm
template <>
struct v2x::EnumNames<v2x::comm::LossModel> {
  static constexpr std::array<std::string_view, 3> names{"none", "bernoulli", "gilbert_elliott"};
};

namespace v2x::comm {

struct ChannelModelConfig {
  double latency_ms = 5.0;         // fixed one-way delay after leaving the sender's queue
  double jitter_ms = 0.0;          // extra delay uniform in [0, jitter_ms] per datagram and receiver
  LossModel loss = LossModel::None;
  double loss_rate = 0.0;          // Bernoulli: probability a datagram is lost on a link
  // Gilbert–Elliott two-state Markov chain per link, one step per datagram:
  double ge_p_good_to_bad = 0.02;  // P(good → bad)
  double ge_p_bad_to_good = 0.25;  // P(bad → good)
  double ge_loss_good = 0.0;       // loss probability in the good state
  double ge_loss_bad = 0.7;        // loss probability in the bad state
  double bandwidth_mbps = 0.0;     // per-sender cap (10^6 bit/s); 0 = unlimited
  int bucket_bytes = 16384;        // token bucket depth (largest burst)
  double max_queue_ms = 200.0;     // a datagram that would wait longer for tokens is dropped
  int mtu_bytes = 1398;            // datagrams larger than this are not sent; 0 = no limit
  std::uint64_t seed = 1;

  template <class V>
  void visit(V& v) {
    v("latency_ms", latency_ms, Range{0, 60000});
    v("jitter_ms", jitter_ms, Range{0, 60000});
    v("loss", loss);
    v("loss_rate", loss_rate, Range{0, 1});
    v("ge_p_good_to_bad", ge_p_good_to_bad, Range{0, 1});
    v("ge_p_bad_to_good", ge_p_bad_to_good, Range{0, 1});
    v("ge_loss_good", ge_loss_good, Range{0, 1});
    v("ge_loss_bad", ge_loss_bad, Range{0, 1});
    v("bandwidth_mbps", bandwidth_mbps, Range{0, 1e5});
    v("bucket_bytes", bucket_bytes, Range{1, 1 << 30});
    v("max_queue_ms", max_queue_ms, Range{0, 60000});
    v("mtu_bytes", mtu_bytes, Range{0, 1 << 30});
    v("seed", seed);
  }
  // Long-run loss probability of one link (Bernoulli: loss_rate; GE: stationary mixture).
  double expected_loss_rate() const;
};

struct ChannelStats {
  std::uint64_t dropped_mtu = 0;    // datagrams above the MTU (not sent)
  std::uint64_t dropped_queue = 0;  // datagrams that would have waited more than max_queue_ms
  std::uint64_t lost = 0;           // (datagram, receiver) pairs lost on the link
  std::uint64_t delivered = 0;      // (datagram, receiver) pairs scheduled for delivery
};

class ChannelTransport;

class ChannelMedium {
 public:
  explicit ChannelMedium(ChannelModelConfig cfg);
  // Attaches an agent; the medium must outlive the returned transport.
  std::unique_ptr<ChannelTransport> attach(AgentId id);
  // The simulated clock: moved forward by the driver (never backwards).
  void set_time(TimestampNs t_ns);
  TimestampNs now_ns() const { return now_ns_; }
  const ChannelModelConfig& config() const { return cfg_; }
  const ChannelStats& stats() const { return stats_; }

 private:
  friend class ChannelTransport;
  struct Link {
    Rng rng;
    bool bad = false;  // Gilbert–Elliott state
  };
  struct Sender {
    double tokens = 0;  // bytes; negative = queued debt
    TimestampNs last_ns = 0;
    std::uint64_t batch = 0;
  };
  struct Pending {
    Datagram d;
    std::uint64_t order;  // tie-break: FIFO for equal arrival times
    bool operator>(const Pending& o) const {
      return d.arrival_ns != o.d.arrival_ns ? d.arrival_ns > o.d.arrival_ns : order > o.order;
    }
  };
  bool send(AgentId from, std::span<const Bytes> datagrams, TransportStats& st);
  std::vector<Datagram> receive(AgentId to, TimestampNs deadline_ns);
  bool link_loses(Link& link);
  void detach(AgentId id);

  ChannelModelConfig cfg_;
  TimestampNs now_ns_ = 0;
  std::uint64_t order_ = 0;
  ChannelStats stats_;
  std::map<AgentId, Sender> senders_;
  std::map<std::pair<AgentId, AgentId>, Link> links_;
  std::map<AgentId, std::priority_queue<Pending, std::vector<Pending>, std::greater<>>> inbox_;
};

class ChannelTransport final : public Transport {
 public:
  ChannelTransport(ChannelMedium& medium, AgentId self) : medium_(medium), self_(self) {}
  ~ChannelTransport() override { medium_.detach(self_); }
  AgentId self() const override { return self_; }
  bool send(std::span<const Bytes> datagrams) override;
  using Transport::send;
  // Datagrams whose arrival time is ≤ deadline_ns (simulated clock; does not advance it).
  std::vector<Datagram> poll(TimestampNs deadline_ns, std::size_t min_peers = 0) override;
  TimestampNs now_ns() const override { return medium_.now_ns(); }
  void set_keep_newest(bool on) { keep_newest_ = on; }

 private:
  ChannelMedium& medium_;
  AgentId self_;
  bool keep_newest_ = true;
};

}  // namespace v2x::comm
