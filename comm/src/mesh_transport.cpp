#include "v2x/comm/mesh_transport.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "v2x/comm/zmq_transport.hpp"

namespace v2x::comm {
namespace {
constexpr std::size_t kTopicBytes = 11;  // "v2x" + 8 hex digits
constexpr std::size_t kMaxHelloBytes = 64 * 1024;
constexpr std::size_t kMaxHelloLines = 1100;

std::optional<AgentId> parse_topic(const zmq::message_t& m) {
  if (m.size() != kTopicBytes) return std::nullopt;
  const char* s = static_cast<const char*>(m.data());
  if (std::memcmp(s, "v2x", 3) != 0) return std::nullopt;
  std::uint32_t v = 0;
  for (std::size_t i = 3; i < kTopicBytes; ++i) {
    const char c = s[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return std::nullopt;
    v = v << 4 | static_cast<std::uint32_t>(d);
  }
  return static_cast<AgentId>(v);
}

// The authenticated node id of the connection a message came from (ZAP User-Id), if any.
std::optional<AgentId> user_id_of(zmq::message_t& m) {
  const char* uid = zmq_msg_gets(m.handle(), "User-Id");
  if (!uid || !*uid) return std::nullopt;
  long long v = 0;
  const char* end = uid + std::strlen(uid);
  auto [p, ec] = std::from_chars(uid, end, v);
  if (ec != std::errc() || p != end) return std::nullopt;
  return static_cast<AgentId>(v);
}

std::optional<AgentId> parse_id(const std::string& s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < INT32_MIN || v > INT32_MAX) return std::nullopt;
  return static_cast<AgentId>(v);
}

bool plausible_endpoint(const std::string& e) {
  if (e.size() < 7 || e.size() > 256) return false;
  if (e.rfind("tcp://", 0) != 0 && e.rfind("ipc://", 0) != 0 && e.rfind("inproc://", 0) != 0) return false;
  return std::all_of(e.begin(), e.end(), [](char c) { return c > 32 && c < 127; });
}
}  // namespace

std::optional<AgentId> MeshTransport::peek_sender(std::span<const std::uint8_t> b) {
  auto i32 = [&](std::size_t off) {
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(b[off + k]) << (8 * k);
    return static_cast<AgentId>(static_cast<std::int32_t>(v));
  };
  if (b.size() >= 14 && std::memcmp(b.data(), "V2XP", 4) == 0) return i32(10);  // points message
  if (b.size() >= 20 && std::memcmp(b.data(), "V2XF", 4) == 0) return i32(16);  // wire v1
  return std::nullopt;  // not a message we know: the decoder rejects it (counted as corrupt)
}

MeshTransport::MeshTransport(AgentId self, MeshTransportOptions options)
    : self_(self),
      opt_(std::move(options)),
      ctx_(opt_.context ? opt_.context : std::make_shared<zmq::context_t>(1)),
      pub_(*ctx_, zmq::socket_type::pub),
      sub_(*ctx_, zmq::socket_type::sub) {
  if (opt_.curve) {
    if (!is_z85_key(opt_.secret_z85) || !is_z85_key(opt_.public_z85))
      throw std::runtime_error("MeshTransport: curve is on but this node's key pair is missing or invalid");
    if (curve_public_of(opt_.secret_z85) != opt_.public_z85)
      throw std::runtime_error("MeshTransport: the public key does not belong to the secret key");
    for (const auto& a : opt_.allowed)
      if (!is_z85_key(a.public_z85))
        throw std::runtime_error("MeshTransport: allow-list entry for node " + std::to_string(a.id) + " has no valid key");
    zap_ = std::make_unique<ZapAuthenticator>(ctx_);
    for (const auto& a : opt_.allowed) zap_->allow(opt_.zap_domain, a.public_z85, std::to_string(a.id));
    // Inbox: CURVE server; ZAP admits allow-listed client keys only.
    sub_.set(zmq::sockopt::curve_server, 1);
    sub_.set(zmq::sockopt::curve_secretkey, opt_.secret_z85);
    sub_.set(zmq::sockopt::zap_domain, opt_.zap_domain);
    // PUB: CURVE client with our keys; the server key is set per connect (ensure_connected).
    pub_.set(zmq::sockopt::curve_secretkey, opt_.secret_z85);
    pub_.set(zmq::sockopt::curve_publickey, opt_.public_z85);
  }
  pub_.set(zmq::sockopt::sndhwm, opt_.send_hwm);
  pub_.set(zmq::sockopt::linger, 0);
  pub_.set(zmq::sockopt::reconnect_ivl, opt_.reconnect_ivl_ms);
  pub_.set(zmq::sockopt::reconnect_ivl_max, std::max(opt_.reconnect_ivl_ms, 1000));
  pub_.set(zmq::sockopt::handshake_ivl, 2000);
  sub_.set(zmq::sockopt::rcvhwm, opt_.recv_hwm);
  sub_.set(zmq::sockopt::linger, 0);
  sub_.set(zmq::sockopt::maxmsgsize, opt_.max_message_bytes);
  sub_.set(zmq::sockopt::handshake_ivl, 2000);
  sub_.set(zmq::sockopt::subscribe, "v2x");  // data topics and hellos
  try {
    sub_.bind(opt_.listen_endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("MeshTransport: cannot bind inbox '" + opt_.listen_endpoint + "': " + e.what());
  }
  endpoint_ = sub_.get(zmq::sockopt::last_endpoint);
  advertise_ = opt_.advertise_endpoint.empty() ? endpoint_ : opt_.advertise_endpoint;
  for (const auto& p : opt_.static_peers) {
    if (p.id == self_) continue;
    if (opt_.curve && !allowed_entry(p.id))
      throw std::runtime_error("MeshTransport: static peer " + std::to_string(p.id) + " is not on the allow-list");
    ensure_connected(p.id, p.endpoint);
  }
}

MeshTransport::~MeshTransport() {
  // Sockets close before the ZAP handler stops (members are destroyed in reverse order: sub_, pub_, zap_).
  sub_.close();
  pub_.close();
}

TimestampNs MeshTransport::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const MeshPeer* MeshTransport::allowed_entry(AgentId id) const {
  for (const auto& a : opt_.allowed)
    if (a.id == id) return &a;
  return nullptr;
}

void MeshTransport::ensure_connected(AgentId id, const std::string& endpoint) {
  if (id == self_ || endpoint.empty() || !plausible_endpoint(endpoint)) return;
  auto it = members_.find(id);
  if (it == members_.end()) {
    if (members_.size() >= opt_.max_members) return;
    it = members_.emplace(id, Member{}).first;
  }
  Member& m = it->second;
  m.endpoint = endpoint;
  if (m.connected == endpoint) return;
  if (opt_.curve) {
    const MeshPeer* a = allowed_entry(id);
    if (!a) return;  // never connect to a key we do not know
    pub_.set(zmq::sockopt::curve_serverkey, a->public_z85);
  }
  try {
    if (!m.connected.empty()) pub_.disconnect(m.connected);
  } catch (const zmq::error_t&) {
  }
  try {
    pub_.connect(endpoint);
    m.connected = endpoint;
    ++mstats_.connects;
    spdlog::debug("mesh {}: connected to node {} at {}", self_, id, endpoint);
  } catch (const zmq::error_t& e) {
    spdlog::warn("mesh {}: cannot connect to node {} at '{}': {}", self_, id, endpoint, e.what());
  }
}

void MeshTransport::add_peer(const MeshPeer& peer) { ensure_connected(peer.id, peer.endpoint); }

bool MeshTransport::send(std::span<const Bytes> datagrams) {
  maybe_hello(now_ns());
  const std::uint64_t batch = ++batch_;
  const std::string topic = ZmqTransport::topic_of(self_);
  std::uint8_t batch_le[8];
  for (int i = 0; i < 8; ++i) batch_le[i] = static_cast<std::uint8_t>(batch >> (8 * i));
  const auto more = zmq::send_flags::dontwait | zmq::send_flags::sndmore;
  try {
    if (!pub_.send(zmq::buffer(topic), more)) return ++stats_.send_failures, false;
    if (!pub_.send(zmq::buffer(batch_le, 8), datagrams.empty() ? zmq::send_flags::dontwait : more))
      return ++stats_.send_failures, false;
    for (std::size_t i = 0; i < datagrams.size(); ++i) {
      const auto flags = i + 1 < datagrams.size() ? more : zmq::send_flags::dontwait;
      if (!pub_.send(zmq::buffer(datagrams[i].data(), datagrams[i].size()), flags)) return ++stats_.send_failures, false;
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

void MeshTransport::maybe_hello(TimestampNs t) {
  if (last_hello_ns_ != 0 && static_cast<double>(t - last_hello_ns_) < opt_.hello_interval_ms * 1e6) return;
  last_hello_ns_ = t;
  std::ostringstream s;
  s << "self " << self_ << " " << advertise_ << "\n";
  for (const auto& [id, m] : members_)
    if (m.alive && !m.endpoint.empty()) s << "member " << id << " " << m.endpoint << "\n";
  const std::string text = s.str();
  const std::string topic = hello_topic();
  try {
    if (pub_.send(zmq::buffer(topic), zmq::send_flags::dontwait | zmq::send_flags::sndmore) &&
        pub_.send(zmq::buffer(text), zmq::send_flags::dontwait))
      ++mstats_.hellos_sent;
  } catch (const zmq::error_t&) {
  }
}

void MeshTransport::heard(AgentId id, TimestampNs t) {
  if (id == self_) return;
  auto it = members_.find(id);
  if (it == members_.end()) {
    if (members_.size() >= opt_.max_members) return;
    it = members_.emplace(id, Member{}).first;
  }
  Member& m = it->second;
  m.last_heard_ns = t;
  if (!m.alive) {
    m.alive = true;
    if (m.ever) {
      ++mstats_.returned;
      events_.push_back({id, MembershipEvent::Returned, t});
      spdlog::info("mesh {}: peer {} is back", self_, id);
    } else {
      ++mstats_.joined;
      events_.push_back({id, MembershipEvent::Joined, t});
      spdlog::info("mesh {}: peer {} joined", self_, id);
    }
    m.ever = true;
  }
}

void MeshTransport::expire(TimestampNs t) {
  for (auto& [id, m] : members_) {
    if (m.alive && static_cast<double>(t - m.last_heard_ns) > opt_.peer_timeout_ms * 1e6) {
      m.alive = false;
      ++mstats_.left;
      events_.push_back({id, MembershipEvent::Left, t});
      spdlog::warn("mesh {}: peer {} dropped (silent for {:.0f} ms)", self_, id, (t - m.last_heard_ns) / 1e6);
    }
  }
}

void MeshTransport::handle_hello(AgentId from, const std::string& text, TimestampNs t) {
  if (text.size() > kMaxHelloBytes) {
    ++mstats_.bad_hello;
    return;
  }
  std::istringstream in(text);
  std::string line;
  std::size_t lines = 0;
  bool self_ok = false;
  std::vector<std::pair<AgentId, std::string>> members;
  while (std::getline(in, line) && ++lines <= kMaxHelloLines) {
    std::istringstream ls(line);
    std::string kind, id_s, ep;
    if (!(ls >> kind >> id_s >> ep)) continue;
    const auto id = parse_id(id_s);
    if (!id || !plausible_endpoint(ep)) continue;
    if (kind == "self") {
      if (*id != from) {
        ++mstats_.spoofed;  // a hello speaking for another node
        return;
      }
      self_ok = true;
      ensure_connected(from, ep);
    } else if (kind == "member") {
      members.emplace_back(*id, ep);
    }
  }
  if (!self_ok) {
    ++mstats_.bad_hello;
    return;
  }
  ++mstats_.hellos_received;
  heard(from, t);
  // Gossip: connect to members we do not know yet (under curve only allow-listed ids; see ensure_connected).
  for (const auto& [id, ep] : members) {
    auto it = members_.find(id);
    if (id != self_ && (it == members_.end() || it->second.connected.empty())) ensure_connected(id, ep);
  }
}

void MeshTransport::drain(std::vector<Datagram>& out, TimestampNs deadline_ns) {
  std::size_t n = 0;
  while (true) {
    if (n >= opt_.max_drain_messages) {
      ++mstats_.drain_capped;  // the rest waits for the next poll (bounded by the receive HWM)
      return;
    }
    zmq::message_t topic;
    if (!sub_.recv(topic, zmq::recv_flags::dontwait)) return;
    ++n;
    const TimestampNs t = now_ns();
    std::vector<zmq::message_t> parts;
    bool more = topic.more();
    std::size_t nparts = 0;
    while (more) {
      zmq::message_t part;
      (void)sub_.recv(part, zmq::recv_flags::none);  // the rest of a multipart message is already here
      more = part.more();
      if (++nparts <= 4096) parts.push_back(std::move(part));
    }
    const std::optional<AgentId> auth = user_id_of(topic);
    if (opt_.curve && !auth) {
      ++stats_.malformed;  // cannot happen with a ZAP domain set; never trust such a message
      continue;
    }
    if (topic.size() == hello_topic().size() && topic.to_string_view() == hello_topic()) {
      if (parts.size() != 1) {
        ++mstats_.bad_hello;
        continue;
      }
      const std::string text = parts[0].to_string();
      std::optional<AgentId> from = auth;
      if (!from) {  // no security: trust the hello's own "self" line
        std::istringstream ls(text);
        std::string kind, id_s;
        ls >> kind >> id_s;
        from = kind == "self" ? parse_id(id_s) : std::nullopt;
      }
      if (!from) {
        ++mstats_.bad_hello;
        continue;
      }
      handle_hello(*from, text, t);
      continue;
    }
    const auto sender = parse_topic(topic);
    if (!sender || parts.empty() || parts[0].size() != 8 || nparts > 4096) {
      ++stats_.malformed;
      continue;
    }
    if (auth && *auth != *sender) {
      ++mstats_.spoofed;
      continue;
    }
    if (*sender == self_) continue;
    heard(*sender, t);
    std::uint64_t batch = 0;
    const auto* b = static_cast<const std::uint8_t*>(parts[0].data());
    for (int i = 0; i < 8; ++i) batch |= static_cast<std::uint64_t>(b[i]) << (8 * i);
    for (std::size_t i = 1; i < parts.size(); ++i) {
      const auto* p = static_cast<const std::uint8_t*>(parts[i].data());
      const std::span<const std::uint8_t> bytes(p, parts[i].size());
      // The wire message must speak for the authenticated sender too (decoders read sender_id from it).
      const auto wire_sender = peek_sender(bytes);
      if (opt_.curve && wire_sender && *wire_sender != *sender) {
        ++mstats_.spoofed;
        continue;
      }
      out.push_back(Datagram{*sender, batch, Bytes(p, p + parts[i].size()), t});
    }
    if (now_ns() > deadline_ns + 5'000'000) return;  // a flood must not hold the tick past its deadline
  }
}

std::vector<Datagram> MeshTransport::poll(TimestampNs deadline_ns, std::size_t min_peers) {
  std::vector<Datagram> out;
  const auto peers_held = [&] {
    std::set<AgentId> s;
    for (const auto& d : out) s.insert(d.sender);
    return s.size();
  };
  while (true) {
    drain(out, deadline_ns);
    maybe_hello(now_ns());
    if (min_peers > 0 && peers_held() >= min_peers) break;
    const TimestampNs left_ns = deadline_ns - now_ns();
    if (left_ns <= 0) break;
    zmq::pollitem_t item{sub_.handle(), 0, ZMQ_POLLIN, 0};
    const TimestampNs hello_left = static_cast<TimestampNs>(opt_.hello_interval_ms * 1e6) - (now_ns() - last_hello_ns_);
    const TimestampNs wait_ns = std::max<TimestampNs>(0, std::min(left_ns, hello_left));
    zmq::poll(&item, 1, std::chrono::milliseconds((wait_ns + 999'999) / 1'000'000));
  }
  expire(now_ns());
  if (zap_) mstats_.refused = zap_->stats().refused;
  if (opt_.keep_newest_only) stats_.dropped_superseded += keep_newest_per_peer(out);
  for (const auto& d : out) {
    ++stats_.datagrams_received;
    stats_.bytes_received += d.bytes.size();
    if (heard_since_take_.size() < opt_.max_members) heard_since_take_.insert(d.sender);
  }
  return out;
}

std::vector<AgentId> MeshTransport::take_heard() {
  std::vector<AgentId> v(heard_since_take_.begin(), heard_since_take_.end());
  heard_since_take_.clear();
  return v;
}

std::vector<AgentId> MeshTransport::members() const {
  std::vector<AgentId> v;
  for (const auto& [id, m] : members_)
    if (m.alive) v.push_back(id);
  return v;
}

MeshStats MeshTransport::mesh_stats() const {
  MeshStats s = mstats_;
  if (zap_) s.refused = zap_->stats().refused;
  return s;
}

std::vector<MembershipEvent> MeshTransport::take_events() { return std::exchange(events_, {}); }

}  // namespace v2x::comm
