#include "v2x/comm/transport.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace v2x::comm {

std::size_t keep_newest_per_peer(std::vector<Datagram>& d) {
  std::map<AgentId, std::uint64_t> newest;
  for (const auto& x : d) {
    auto [it, ins] = newest.try_emplace(x.sender, x.batch);
    if (!ins) it->second = std::max(it->second, x.batch);
  }
  const std::size_t before = d.size();
  std::erase_if(d, [&](const Datagram& x) { return x.batch != newest[x.sender]; });
  return before - d.size();
}

void InProcessHub::set_time(TimestampNs t_ns) {
  std::lock_guard lock(mutex_);
  now_ns_ = t_ns;
}
TimestampNs InProcessHub::now_ns() const {
  std::lock_guard lock(mutex_);
  return now_ns_;
}

InProcessTransport::InProcessTransport(std::shared_ptr<InProcessHub> hub, AgentId self, bool keep_newest_only)
    : hub_(std::move(hub)), self_(self), keep_newest_(keep_newest_only) {
  std::lock_guard lock(hub_->mutex_);
  if (!hub_->inbox_.try_emplace(self_).second)
    throw std::runtime_error("InProcessHub: agent " + std::to_string(self_) + " attached twice");
}
InProcessTransport::~InProcessTransport() {
  std::lock_guard lock(hub_->mutex_);
  hub_->inbox_.erase(self_);
}

bool InProcessTransport::send(std::span<const Bytes> datagrams) {
  std::lock_guard lock(hub_->mutex_);
  const std::uint64_t batch = ++batch_;
  for (const Bytes& b : datagrams) {
    for (auto& [id, inbox] : hub_->inbox_)
      if (id != self_) inbox.push_back(Datagram{self_, batch, b, hub_->now_ns_});
    ++stats_.datagrams_sent;
    stats_.bytes_sent += b.size();
  }
  ++stats_.messages_sent;
  return true;
}

std::vector<Datagram> InProcessTransport::poll(TimestampNs deadline_ns, std::size_t) {
  std::vector<Datagram> out;
  {
    std::lock_guard lock(hub_->mutex_);
    auto& inbox = hub_->inbox_[self_];
    auto split = std::stable_partition(inbox.begin(), inbox.end(),
                                       [&](const Datagram& d) { return d.arrival_ns <= deadline_ns; });
    out.assign(std::make_move_iterator(inbox.begin()), std::make_move_iterator(split));
    inbox.erase(inbox.begin(), split);
  }
  if (keep_newest_) stats_.dropped_superseded += keep_newest_per_peer(out);
  for (const auto& d : out) {
    ++stats_.datagrams_received;
    stats_.bytes_received += d.bytes.size();
  }
  return out;
}

}  // namespace v2x::comm
