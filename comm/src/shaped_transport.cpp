#include "v2x/comm/shaped_transport.hpp"

#include <algorithm>
#include <set>

namespace v2x::comm {

ShapedTransport::ShapedTransport(std::unique_ptr<Transport> inner, ChannelModelConfig cfg, double step_ms,
                                 std::size_t max_peers)
    : inner_(std::move(inner)), cfg_(std::move(cfg)), step_ms_(std::max(0.1, step_ms)), max_peers_(max_peers) {
  validate_config(cfg_);
}

void ShapedTransport::sync_send_stats() {
  const TransportStats& s = inner_->stats();
  stats_.messages_sent = s.messages_sent;
  stats_.datagrams_sent = s.datagrams_sent;
  stats_.bytes_sent = s.bytes_sent;
  stats_.send_failures = s.send_failures;
  stats_.malformed = s.malformed;
}

bool ShapedTransport::send(std::span<const Bytes> datagrams) {
  const bool ok = inner_->send(datagrams);
  sync_send_stats();
  return ok;
}

ShapedTransport::Link* ShapedTransport::link_of(AgentId peer) {
  auto it = links_.find(peer);
  if (it != links_.end()) return &it->second;
  if (links_.size() >= max_peers_) return nullptr;
  Link l;
  l.medium = std::make_unique<ChannelMedium>(cfg_);
  l.medium->set_time(inner_->now_ns());
  l.rx = l.medium->attach(self());
  l.tx = l.medium->attach(peer);
  return &links_.emplace(peer, std::move(l)).first->second;
}

std::vector<Datagram> ShapedTransport::poll(TimestampNs deadline_ns, std::size_t min_peers) {
  std::vector<Datagram> out;
  std::set<AgentId> held;
  while (true) {
    const TimestampNs now = inner_->now_ns();
    const TimestampNs step_end = std::min<TimestampNs>(deadline_ns, now + static_cast<TimestampNs>(step_ms_ * 1e6));
    std::vector<Datagram> got = inner_->poll(step_end);
    const TimestampNs t = inner_->now_ns();
    // Into each sender's medium, one send() per (sender, batch), datagrams in order.
    for (std::size_t i = 0; i < got.size();) {
      std::size_t j = i;
      std::vector<Bytes> batch;
      while (j < got.size() && got[j].sender == got[i].sender && got[j].batch == got[i].batch)
        batch.push_back(std::move(got[j++].bytes));
      if (Link* l = link_of(got[i].sender)) {
        l->medium->set_time(t);
        l->tx->send(std::span<const Bytes>(batch));
      }
      i = j;
    }
    for (auto& [peer, l] : links_) {
      l.medium->set_time(t);
      for (auto& d : l.rx->poll(t)) {
        d.arrival_ns = t;
        held.insert(d.sender);
        out.push_back(std::move(d));
      }
    }
    if ((min_peers > 0 && held.size() >= min_peers) || t >= deadline_ns) break;
  }
  keep_newest_per_peer(out);
  for (const auto& d : out) {
    ++stats_.datagrams_received;
    stats_.bytes_received += d.bytes.size();
  }
  sync_send_stats();
  return out;
}

ChannelStats ShapedTransport::channel_stats() const {
  ChannelStats s;
  for (const auto& [peer, l] : links_) {
    const ChannelStats& m = l.medium->stats();
    s.dropped_mtu += m.dropped_mtu;
    s.dropped_queue += m.dropped_queue;
    s.lost += m.lost;
    s.delivered += m.delivered;
  }
  return s;
}

}  // namespace v2x::comm
