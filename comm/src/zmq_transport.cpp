#include "v2x/comm/zmq_transport.hpp"

#include <chrono>
#include <cstdio>
#include <set>
#include <stdexcept>

namespace v2x::comm {
namespace {
constexpr std::size_t kTopicBytes = 11;  // "v2x" + 8 hex digits

bool parse_topic(const zmq::message_t& m, AgentId& id) {
  if (m.size() != kTopicBytes) return false;
  const char* s = static_cast<const char*>(m.data());
  if (s[0] != 'v' || s[1] != '2' || s[2] != 'x') return false;
  std::uint32_t v = 0;
  for (std::size_t i = 3; i < kTopicBytes; ++i) {
    const char c = s[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = v << 4 | static_cast<std::uint32_t>(d);
  }
  id = static_cast<AgentId>(v);
  return true;
}
}  // namespace

std::string ZmqTransport::topic_of(AgentId id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "v2x%08x", static_cast<unsigned>(static_cast<std::uint32_t>(id)));
  return buf;
}

ZmqTransport::ZmqTransport(AgentId self, ZmqTransportOptions options)
    : self_(self),
      opt_(std::move(options)),
      ctx_(opt_.context ? opt_.context : std::make_shared<zmq::context_t>(1)),
      pub_(*ctx_, zmq::socket_type::pub),
      sub_(*ctx_, zmq::socket_type::sub) {
  pub_.set(zmq::sockopt::sndhwm, opt_.send_hwm);
  pub_.set(zmq::sockopt::linger, opt_.linger_ms);
  sub_.set(zmq::sockopt::rcvhwm, opt_.recv_hwm);
  sub_.set(zmq::sockopt::linger, opt_.linger_ms);
  if (opt_.configure_socket) {
    opt_.configure_socket(pub_, ZmqSocketRole::Publisher);
    opt_.configure_socket(sub_, ZmqSocketRole::Subscriber);
  }
  if (opt_.subscribe_to.empty()) {
    sub_.set(zmq::sockopt::subscribe, "v2x");
  } else {
    for (AgentId id : opt_.subscribe_to) sub_.set(zmq::sockopt::subscribe, topic_of(id));
  }
  try {
    pub_.bind(opt_.bind_endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("ZmqTransport: cannot bind '" + opt_.bind_endpoint + "': " + e.what());
  }
  endpoint_ = pub_.get(zmq::sockopt::last_endpoint);
  for (const auto& ep : opt_.peer_endpoints) connect(ep);
}

ZmqTransport::~ZmqTransport() = default;

void ZmqTransport::connect(const std::string& peer_endpoint) {
  try {
    sub_.connect(peer_endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("ZmqTransport: cannot connect to '" + peer_endpoint + "': " + e.what());
  }
}

TimestampNs ZmqTransport::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool ZmqTransport::send(std::span<const Bytes> datagrams) {
  const std::uint64_t batch = ++batch_;
  const std::string topic = topic_of(self_);
  std::uint8_t batch_le[8];
  for (int i = 0; i < 8; ++i) batch_le[i] = static_cast<std::uint8_t>(batch >> (8 * i));
  const auto more = zmq::send_flags::dontwait | zmq::send_flags::sndmore;
  try {
    // PUB never blocks: at the HWM it drops the whole message silently, which ZeroMQ does not report.
    if (!pub_.send(zmq::buffer(topic), more)) return ++stats_.send_failures, false;
    if (!pub_.send(zmq::buffer(batch_le, 8), datagrams.empty() ? zmq::send_flags::dontwait : more))
      return ++stats_.send_failures, false;
    for (std::size_t i = 0; i < datagrams.size(); ++i) {
      const auto flags = i + 1 < datagrams.size() ? more : zmq::send_flags::dontwait;
      if (!pub_.send(zmq::buffer(datagrams[i].data(), datagrams[i].size()), flags))
        return ++stats_.send_failures, false;
      ++stats_.datagrams_sent;
      stats_.bytes_sent += datagrams[i].size();
    }
  } catch (const zmq::error_t&) {
    ++stats_.send_failures;
    return false;
  }
  ++stats_.messages_sent;
  return true;
}

void ZmqTransport::drain(std::vector<Datagram>& out) {
  while (true) {
    zmq::message_t topic;
    if (!sub_.recv(topic, zmq::recv_flags::dontwait)) return;
    const TimestampNs t = now_ns();
    std::vector<zmq::message_t> parts;
    bool more = topic.more();
    while (more) {
      zmq::message_t part;
      (void)sub_.recv(part, zmq::recv_flags::none);  // the rest of a multipart message is already here
      more = part.more();
      parts.push_back(std::move(part));
    }
    AgentId sender = 0;
    if (!parse_topic(topic, sender) || parts.empty() || parts[0].size() != 8) {
      ++stats_.malformed;
      continue;
    }
    if (sender == self_) continue;
    std::uint64_t batch = 0;
    const auto* b = static_cast<const std::uint8_t*>(parts[0].data());
    for (int i = 0; i < 8; ++i) batch |= static_cast<std::uint64_t>(b[i]) << (8 * i);
    for (std::size_t i = 1; i < parts.size(); ++i) {
      const auto* p = static_cast<const std::uint8_t*>(parts[i].data());
      out.push_back(Datagram{sender, batch, Bytes(p, p + parts[i].size()), t});
    }
  }
}

std::vector<Datagram> ZmqTransport::poll(TimestampNs deadline_ns, std::size_t min_peers) {
  std::vector<Datagram> out;
  const auto peers_held = [&] {
    std::set<AgentId> s;
    for (const auto& d : out) s.insert(d.sender);
    return s.size();
  };
  while (true) {
    drain(out);
    if (min_peers > 0 && peers_held() >= min_peers) break;
    const TimestampNs left_ns = deadline_ns - now_ns();
    if (left_ns <= 0) break;
    zmq::pollitem_t item{sub_.handle(), 0, ZMQ_POLLIN, 0};
    // zmq_poll has millisecond resolution: round up so the deadline is not overshot by more than 1 ms.
    zmq::poll(&item, 1, std::chrono::milliseconds((left_ns + 999'999) / 1'000'000));
  }
  if (opt_.keep_newest_only) stats_.dropped_superseded += keep_newest_per_peer(out);
  for (const auto& d : out) {
    ++stats_.datagrams_received;
    stats_.bytes_received += d.bytes.size();
  }
  return out;
}

}  // namespace v2x::comm
