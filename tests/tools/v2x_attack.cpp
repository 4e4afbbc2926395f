// Test-only misbehaving peer for the live-node fault tests (tests/test_live_nodes.cpp). Not a product binary.
//   v2x_attack --mode garbage|unauthorised|replay --id N [--key SECRET_FILE] --targets EP1,EP2,…
//              --target-keys PUB1,PUB2,… [--det EP] --seconds S
// garbage:      allow-listed key; random payloads, broken framing, spoofed topics and wire sender ids.
// unauthorised: a fresh key that no allow-list holds (the ZAP handlers must refuse every connection).
// replay:       allow-listed key; real wire-v1 messages (no cells, no boxes) stamped with the fleet's current
//               time (learned from a node's detections topic --det), one per tick: fresh, its replay, a stale one.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "v2x/comm/codec.hpp"
#include "v2x/comm/curve_keys.hpp"
#include "v2x/comm/zmq_transport.hpp"

using namespace v2x;

static std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, ','))
    if (!t.empty()) v.push_back(t);
  return v;
}

int main(int argc, char** argv) {
  std::string mode, key_file, targets_s, keys_s, det;
  int id = 0;
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--mode") mode = v;
    else if (a == "--id") id = std::stoi(v);
    else if (a == "--key") key_file = v;
    else if (a == "--targets") targets_s = v;
    else if (a == "--target-keys") keys_s = v;
    else if (a == "--det") det = v;
    else if (a == "--seconds") seconds = std::stod(v);
  }
  const auto targets = split(targets_s), tkeys = split(keys_s);
  if (targets.size() != tkeys.size() || targets.empty()) {
    std::fprintf(stderr, "v2x_attack: --targets and --target-keys must pair up\n");
    return 2;
  }
  std::string secret, pub;
  if (mode == "unauthorised") {
    const auto kp = comm::generate_curve_keypair();
    secret = kp.secret_z85;
    pub = kp.public_z85;
  } else {
    secret = comm::read_key_file(key_file, true);
    pub = comm::curve_public_of(secret);
  }
  zmq::context_t ctx(1);
  zmq::socket_t out(ctx, zmq::socket_type::pub);
  out.set(zmq::sockopt::linger, 0);
  out.set(zmq::sockopt::curve_secretkey, secret);
  out.set(zmq::sockopt::curve_publickey, pub);
  out.set(zmq::sockopt::reconnect_ivl, 100);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    out.set(zmq::sockopt::curve_serverkey, comm::read_key_file(tkeys[i]));
    out.connect(targets[i]);
  }
  zmq::socket_t det_sub(ctx, zmq::socket_type::sub);
  if (!det.empty()) {
    det_sub.set(zmq::sockopt::subscribe, "det");
    det_sub.connect(det);
  }
  std::mt19937_64 rng(1234 + static_cast<unsigned>(id));
  auto send = [&](const std::string& topic, const std::vector<std::vector<std::uint8_t>>& parts) {
    out.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    for (std::size_t i = 0; i < parts.size(); ++i)
      out.send(zmq::buffer(parts[i]), i + 1 < parts.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                                            : zmq::send_flags::dontwait);
  };
  std::uint64_t batch = 0;
  auto batch_le = [&]() {
    std::vector<std::uint8_t> b(8);
    ++batch;
    for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(batch >> (8 * i));
    return b;
  };
  auto message = [&](AgentId sender, std::uint32_t seq, TimestampNs stamp) {
    SparseFeatures f;
    f.sender = sender;
    f.sequence = seq;
    f.stamp_ns = stamp;
    auto e = comm::encode(f);
    return e ? e.value() : comm::Bytes{};
  };
  const std::string own = comm::ZmqTransport::topic_of(id);
  TimestampNs latest = 0;
  std::uint32_t seq = 0;
  comm::Bytes last_fresh;
  TimestampNs acted_on = 0;
  int step = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int it = 0; std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(seconds); ++it) {
    zmq::message_t m;
    while (!det.empty() && det_sub.recv(m, zmq::recv_flags::dontwait)) {
      if (m.more()) continue;
      const auto j = nlohmann::json::parse(m.to_string(), nullptr, false);
      if (j.is_object() && j.contains("stamp_ns")) latest = std::max<TimestampNs>(latest, j["stamp_ns"].get<TimestampNs>());
    }
    if (mode == "garbage" || mode == "unauthorised") {
      std::vector<std::uint8_t> junk(rng() % 3000);
      for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
      switch (it % 4) {
        case 0: send(own, {batch_le(), junk}); break;                          // undecodable payload
        case 1: send("v2xZZZZZZZZ", {junk}); break;                            // broken framing
        case 2: send(comm::ZmqTransport::topic_of(static_cast<AgentId>(rng() % 8)), {batch_le(), junk}); break;  // spoofed topic
        case 3: send(own, {batch_le(), message(static_cast<AgentId>(it), 1, latest)}); break;  // spoofed wire sender
      }
    } else if (mode == "replay" && latest > acted_on) {
      // One message per fleet tick (paced by the detections topic), so that the receiver's keep-newest step
      // cannot hide a replayed copy behind a newer batch: the replay window itself must reject it.
      acted_on = latest;
      switch (step++ % 3) {
        case 0: last_fresh = message(id, ++seq, latest); send(own, {batch_le(), last_fresh}); break;
        case 1: if (!last_fresh.empty()) send(own, {batch_le(), last_fresh}); break;            // replayed
        case 2: send(own, {batch_le(), message(id, ++seq, latest - 5'000'000'000LL)}); break;   // stale
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(mode == "replay" ? 5 : 30));
  }
  return 0;
}
