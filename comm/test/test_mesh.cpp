// CurveZMQ keys, ZAP allow-list, MeshTransport membership and ShapedTransport on 127.0.0.1.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "v2x/comm/codec.hpp"
#include "v2x/comm/curve_keys.hpp"
#include "v2x/comm/mesh_transport.hpp"
#include "v2x/comm/shaped_transport.hpp"

using namespace v2x;
using namespace v2x::comm;
namespace fs = std::filesystem;

namespace {
fs::path tmp(const std::string& n) {
  auto p = fs::temp_directory_path() / ("v2x_mesh_" + n + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

Bytes wire(AgentId sender, std::uint32_t seq) {
  SparseFeatures f;
  f.sender = sender;
  f.sequence = seq;
  f.stamp_ns = 1000 + seq;
  return encode(f).value();
}

struct Node {
  CurveKeyPair keys = generate_curve_keypair();
  AgentId id;
  std::unique_ptr<MeshTransport> t;
};

MeshTransportOptions opts(const Node& n, const std::vector<const Node*>& allowed, bool curve = true) {
  MeshTransportOptions o;
  o.curve = curve;
  o.secret_z85 = n.keys.secret_z85;
  o.public_z85 = n.keys.public_z85;
  for (const Node* a : allowed) o.allowed.push_back({a->id, "", a->keys.public_z85});
  o.hello_interval_ms = 50;
  o.peer_timeout_ms = 300;
  return o;
}

// Polls every node for `ms`, sending one message each per round; returns datagrams received per node.
std::map<AgentId, std::vector<Datagram>> pump(std::vector<Node*> nodes, int ms, bool send = true) {
  std::map<AgentId, std::vector<Datagram>> got;
  const auto t0 = std::chrono::steady_clock::now();
  std::uint32_t seq = 0;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(ms)) {
    ++seq;
    for (Node* n : nodes)
      if (send) n->t->send(wire(n->id, seq));
    for (Node* n : nodes) {
      auto d = n->t->poll(n->t->now_ns() + 10'000'000);
      for (auto& x : d) got[n->id].push_back(std::move(x));
    }
  }
  return got;
}
}  // namespace

TEST(CurveKeys, SecretFileIsPrivateAndKeysRoundTrip) {
  const fs::path d = tmp("keys");
  const auto kp = generate_curve_keypair();
  write_keypair(kp, d.string(), "a");
  struct stat st {};
  ASSERT_EQ(::stat((d / "a.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read_key_file((d / "a.key").string(), true), kp.secret_z85);
  EXPECT_EQ(read_key_file((d / "a.pub").string()), kp.public_z85);
  EXPECT_EQ(curve_public_of(kp.secret_z85), kp.public_z85);
  EXPECT_THROW(write_keypair(kp, d.string(), "a"), std::runtime_error);  // no silent overwrite
  fs::remove_all(d);
}

TEST(CurveKeys, RefusesReadableSecretsAndNonKeys) {
  const fs::path d = tmp("badkeys");
  const auto kp = generate_curve_keypair();
  write_keypair(kp, d.string(), "a");
  ::chmod((d / "a.key").c_str(), 0644);
  EXPECT_THROW(read_key_file((d / "a.key").string(), true), std::runtime_error);
  std::ofstream(d / "junk.pub") << "not a key\n";
  EXPECT_THROW(read_key_file((d / "junk.pub").string()), std::runtime_error);
  EXPECT_THROW(read_key_file((d / "missing.pub").string()), std::runtime_error);
  EXPECT_FALSE(is_z85_key("short"));
  fs::remove_all(d);
}

TEST(MeshTransport, DeliversBetweenAllowListedNodesWithAuthenticatedSender) {
  Node a, b;
  a.id = 1;
  b.id = 2;
  a.t = std::make_unique<MeshTransport>(a.id, opts(a, {&b}));
  auto ob = opts(b, {&a});
  ob.static_peers.push_back({a.id, a.t->endpoint(), a.keys.public_z85});
  b.t = std::make_unique<MeshTransport>(b.id, ob);
  auto got = pump({&a, &b}, 600);
  ASSERT_FALSE(got[1].empty()) << "a never heard b";
  ASSERT_FALSE(got[2].empty()) << "b never heard a (hello → connect back)";
  for (const auto& d : got[1]) EXPECT_EQ(d.sender, 2);
  EXPECT_EQ(a.t->members(), std::vector<AgentId>{2});
  EXPECT_EQ(b.t->members(), std::vector<AgentId>{1});
  EXPECT_EQ(a.t->mesh_stats().refused, 0u);
}

TEST(MeshTransport, RefusesAKeyNotOnTheAllowListAndCountsIt) {
  Node a, intruder;
  a.id = 1;
  intruder.id = 9;
  a.t = std::make_unique<MeshTransport>(a.id, opts(a, {}));  // empty allow-list
  auto oi = opts(intruder, {&a});
  oi.static_peers.push_back({a.id, a.t->endpoint(), a.keys.public_z85});
  intruder.t = std::make_unique<MeshTransport>(intruder.id, oi);
  auto got = pump({&a, &intruder}, 600);
  EXPECT_TRUE(got[1].empty());
  EXPECT_GT(a.t->mesh_stats().refused, 0u);
  EXPECT_TRUE(a.t->members().empty());
}

TEST(MeshTransport, SpoofedWireSenderIsDropped) {
  Node a, b;
  a.id = 1;
  b.id = 2;
  a.t = std::make_unique<MeshTransport>(a.id, opts(a, {&b}));
  auto ob = opts(b, {&a});
  ob.static_peers.push_back({a.id, a.t->endpoint(), a.keys.public_z85});
  b.t = std::make_unique<MeshTransport>(b.id, ob);
  std::size_t received = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500)) {
    b.t->send(wire(/*sender=*/7, 1));  // b's connection, another node's id in the message
    received += a.t->poll(a.t->now_ns() + 10'000'000).size();
  }
  EXPECT_EQ(received, 0u);
  EXPECT_GT(a.t->mesh_stats().spoofed, 0u);
}

TEST(MeshTransport, GossipConnectsAJoinerToEveryMember) {
  Node a, b, c;
  a.id = 1;
  b.id = 2;
  c.id = 3;
  a.t = std::make_unique<MeshTransport>(a.id, opts(a, {&b, &c}));
  auto ob = opts(b, {&a, &c});
  ob.static_peers.push_back({a.id, a.t->endpoint(), a.keys.public_z85});
  b.t = std::make_unique<MeshTransport>(b.id, ob);
  pump({&a, &b}, 300);
  // c joins at run time knowing only a; b learns of c through a's hellos, nobody restarts.
  auto oc = opts(c, {&a, &b});
  oc.static_peers.push_back({a.id, a.t->endpoint(), a.keys.public_z85});
  c.t = std::make_unique<MeshTransport>(c.id, oc);
  pump({&a, &b, &c}, 1000);
  EXPECT_EQ(b.t->members(), (std::vector<AgentId>{1, 3}));
  EXPECT_EQ(c.t->members(), (std::vector<AgentId>{1, 2}));
}

TEST(MeshTransport, DropsASilentPeerAndWelcomesItBack) {
  Node a, b;
  a.id = 1;
  b.id = 2;
  a.t = std::make_unique<MeshTransport>(a.id, opts(a, {&b}));
  auto ob = opts(b, {&a});
  ob.static_peers.push_back({a.id, a.t->endpoint(), a.keys.public_z85});
  b.t = std::make_unique<MeshTransport>(b.id, ob);
  pump({&a, &b}, 400);
  ASSERT_EQ(a.t->members(), std::vector<AgentId>{2});
  b.t.reset();  // b leaves
  pump({&a}, 600);
  EXPECT_TRUE(a.t->members().empty());
  EXPECT_EQ(a.t->mesh_stats().left, 1u);
  b.t = std::make_unique<MeshTransport>(b.id, ob);  // b comes back on a new port
  pump({&a, &b}, 600);
  EXPECT_EQ(a.t->members(), std::vector<AgentId>{2});
  EXPECT_EQ(a.t->mesh_stats().returned, 1u);
  const auto ev = a.t->take_events();
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev[0].kind, MembershipEvent::Joined);
  EXPECT_EQ(ev[1].kind, MembershipEvent::Left);
  EXPECT_EQ(ev[2].kind, MembershipEvent::Returned);
}

TEST(ShapedTransport, NothingArrivesBeforeTheModelledLatencyAndMtuDropsBigDatagrams) {
  Node a, b;
  a.id = 1;
  b.id = 2;
  auto oa = opts(a, {}, /*curve=*/false);
  oa.keep_newest_only = false;  // the shaper keeps the newest per peer after the channel
  a.t = std::make_unique<MeshTransport>(a.id, oa);
  auto ob = opts(b, {}, false);
  ob.static_peers.push_back({a.id, a.t->endpoint(), ""});
  auto bt = std::make_unique<MeshTransport>(b.id, ob);
  MeshTransport* braw = bt.get();
  ChannelModelConfig ch;
  ch.latency_ms = 150;
  ch.mtu_bytes = 200;
  ShapedTransport shaped_a(std::move(a.t), ch);
  // Wait until b's PUB reaches a's inbox (a hears b's hellos through the shaper).
  for (int i = 0; i < 100 && static_cast<MeshTransport&>(shaped_a.inner()).members().empty(); ++i) {
    braw->poll(braw->now_ns() + 5'000'000);
    shaped_a.poll(shaped_a.now_ns() + 5'000'000);
  }
  ASSERT_FALSE(static_cast<MeshTransport&>(shaped_a.inner()).members().empty());
  const TimestampNs sent = braw->now_ns();
  braw->send(wire(2, 1));
  Bytes big = wire(2, 2);
  big.resize(400, 0);  // above the MTU: never delivered
  braw->send(big);
  std::vector<Datagram> got = shaped_a.poll(sent + 100'000'000);  // 100 ms < 150 ms latency
  EXPECT_TRUE(got.empty());
  got = shaped_a.poll(sent + 400'000'000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LE(got[0].bytes.size(), 200u);
  EXPECT_GE(shaped_a.now_ns() - sent, 150'000'000);
  EXPECT_EQ(shaped_a.channel_stats().dropped_mtu, 1u);
}
