#include "v2x/comm/channel_model.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace v2x::comm {

double ChannelModelConfig::expected_loss_rate() const {
  switch (loss) {
    case LossModel::None: return 0.0;
    case LossModel::Bernoulli: return loss_rate;
    case LossModel::GilbertElliott: {
      const double s = ge_p_good_to_bad + ge_p_bad_to_good;
      const double pi_bad = s > 0 ? ge_p_good_to_bad / s : 0.0;
      return (1 - pi_bad) * ge_loss_good + pi_bad * ge_loss_bad;
    }
  }
  return 0.0;
}

ChannelMedium::ChannelMedium(ChannelModelConfig cfg) : cfg_(std::move(cfg)) { validate_config(cfg_); }

std::unique_ptr<ChannelTransport> ChannelMedium::attach(AgentId id) {
  if (inbox_.count(id)) throw std::runtime_error("ChannelMedium: agent " + std::to_string(id) + " attached twice");
  inbox_[id];
  Sender& s = senders_[id];
  s.tokens = cfg_.bucket_bytes;
  s.last_ns = now_ns_;
  return std::make_unique<ChannelTransport>(*this, id);
}

void ChannelMedium::detach(AgentId id) { inbox_.erase(id); }

void ChannelMedium::set_time(TimestampNs t_ns) { now_ns_ = std::max(now_ns_, t_ns); }

bool ChannelMedium::link_loses(Link& link) {
  switch (cfg_.loss) {
    case LossModel::None: return false;
    case LossModel::Bernoulli: return link.rng.bernoulli(cfg_.loss_rate);
    case LossModel::GilbertElliott:
      link.bad = link.bad ? !link.rng.bernoulli(cfg_.ge_p_bad_to_good) : link.rng.bernoulli(cfg_.ge_p_good_to_bad);
      return link.rng.bernoulli(link.bad ? cfg_.ge_loss_bad : cfg_.ge_loss_good);
  }
  return false;
}

bool ChannelMedium::send(AgentId from, std::span<const Bytes> datagrams, TransportStats& st) {
  Sender& s = senders_[from];
  const std::uint64_t batch = ++s.batch;
  const double rate_Bps = cfg_.bandwidth_mbps * 1e6 / 8.0;
  bool all_sent = true;
  for (const Bytes& b : datagrams) {
    if (cfg_.mtu_bytes > 0 && b.size() > static_cast<std::size_t>(cfg_.mtu_bytes)) {
      ++stats_.dropped_mtu;
      ++st.send_failures;
      all_sent = false;
      continue;
    }
    // Token bucket with a FIFO queue, written as debt: a datagram leaves when the bucket has refilled its bytes.
    TimestampNs depart_ns = now_ns_;
    if (rate_Bps > 0) {
      s.tokens = std::min<double>(cfg_.bucket_bytes, s.tokens + rate_Bps * ns_to_s(now_ns_ - s.last_ns));
      s.last_ns = now_ns_;
      const double after = s.tokens - static_cast<double>(b.size());
      const double wait_s = after >= 0 ? 0.0 : -after / rate_Bps;
      if (wait_s * 1e3 > cfg_.max_queue_ms) {
        ++stats_.dropped_queue;
        ++st.send_failures;
        all_sent = false;
        continue;
      }
      s.tokens = after;
      depart_ns = now_ns_ + s_to_ns(wait_s);
    }
    ++st.datagrams_sent;
    st.bytes_sent += b.size();
    for (auto& [to, inbox] : inbox_) {
      if (to == from) continue;
      auto [it, inserted] = links_.try_emplace(
          {from, to}, Link{Rng(cfg_.seed).fork(static_cast<std::uint64_t>(static_cast<std::uint32_t>(from)) << 32 |
                                              static_cast<std::uint32_t>(to))});
      Link& link = it->second;
      const double jitter_ms = cfg_.jitter_ms > 0 ? link.rng.uniform(0.0, cfg_.jitter_ms) : 0.0;
      if (link_loses(link)) {
        ++stats_.lost;
        continue;
      }
      ++stats_.delivered;
      const TimestampNs arrival = depart_ns + s_to_ns((cfg_.latency_ms + jitter_ms) * 1e-3);
      inbox.push(Pending{Datagram{from, batch, b, arrival}, ++order_});
    }
  }
  ++st.messages_sent;
  return all_sent;
}

std::vector<Datagram> ChannelMedium::receive(AgentId to, TimestampNs deadline_ns) {
  std::vector<Datagram> out;
  auto it = inbox_.find(to);
  if (it == inbox_.end()) return out;
  auto& q = it->second;
  while (!q.empty() && q.top().d.arrival_ns <= deadline_ns) {
    out.push_back(q.top().d);
    q.pop();
  }
  return out;
}

bool ChannelTransport::send(std::span<const Bytes> datagrams) { return medium_.send(self_, datagrams, stats_); }

std::vector<Datagram> ChannelTransport::poll(TimestampNs deadline_ns, std::size_t) {
  auto out = medium_.receive(self_, deadline_ns);
  if (keep_newest_) stats_.dropped_superseded += keep_newest_per_peer(out);
  for (const auto& d : out) {
    ++stats_.datagrams_received;
    stats_.bytes_received += d.bytes.size();
  }
  return out;
}

}  // namespace v2x::comm
