#include <gtest/gtest.h>

#include <thread>

#include "test_util.hpp"
#include "v2x/comm/codec.hpp"
#include "v2x/comm/zmq_transport.hpp"

using namespace v2x;
using namespace v2x::comm;

namespace {
// PUB/SUB joins asynchronously: resend until the subscriber sees something (bounded), as any PUB/SUB user must.
std::vector<Datagram> send_until_received(ZmqTransport& tx, ZmqTransport& rx, const std::vector<Bytes>& msg) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    tx.send(msg);
    auto got = rx.poll(rx.now_ns() + 20'000'000, 1);
    if (!got.empty()) return got;
  }
  return {};
}
}  // namespace

TEST(ZmqTransport, PubSubOnLoopbackCarriesEncodedFragments) {
  ZmqTransport a(7, {});
  ZmqTransportOptions ob;
  ob.peer_endpoints = {a.endpoint()};
  ZmqTransport b(8, ob);
  EXPECT_NE(a.endpoint().find("tcp://127.0.0.1:"), std::string::npos);
  const auto f = test::make_features(41, 300, 16, Quantization::Int8, 2, 8);
  auto frags = encode_fragments(f, kDefaultMtuBytes);
  ASSERT_TRUE(frags.has_value());
  auto got = send_until_received(a, b, *frags);
  ASSERT_EQ(got.size(), frags->size());  // one multipart message: all fragments or none
  Reassembler r;
  for (const auto& d : got) {
    EXPECT_EQ(d.sender, 7);
    auto m = decode_message(d.bytes);
    ASSERT_TRUE(m.has_value()) << m.error().message;
    ASSERT_TRUE(r.add(std::move(m.value())).has_value());
  }
  auto done = r.take(false);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].features.cell_indices, f.cell_indices);
  EXPECT_GT(a.stats().bytes_sent, 0u);
}

TEST(ZmqTransport, KeepsOnlyTheNewestMessagePerPeerWhenBehind) {
  ZmqTransport a(1, {});
  ZmqTransportOptions ob;
  ob.peer_endpoints = {a.endpoint()};
  ZmqTransport b(2, ob);
  ASSERT_FALSE(send_until_received(a, b, {Bytes{0}}).empty());
  for (std::uint8_t i = 1; i <= 5; ++i) a.send(Bytes{i});
  std::vector<Datagram> got;
  for (int i = 0; i < 100 && got.empty(); ++i) {  // wait for all 5 to be queued, then drain once
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    got = b.poll(b.now_ns());
    if (!got.empty() && got.back().bytes != Bytes{5}) got.clear();
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, Bytes{5});
}

TEST(ZmqTransport, SubscribesOnlyToTheRequestedPeersAndCallsTheSecurityHook) {
  auto ctx = std::make_shared<zmq::context_t>(1);
  int hook_calls = 0;
  ZmqTransportOptions base;
  base.context = ctx;
  base.configure_socket = [&](zmq::socket_t& s, ZmqSocketRole) {
    ++hook_calls;
    s.set(zmq::sockopt::linger, 0);
  };
  ZmqTransportOptions oa = base, oc = base, ob = base;
  oa.bind_endpoint = "inproc://peer-a";
  oc.bind_endpoint = "inproc://peer-c";
  ZmqTransport a(10, oa), c(12, oc);
  ob.bind_endpoint = "inproc://peer-b";
  ob.peer_endpoints = {"inproc://peer-a", "inproc://peer-c"};
  ob.subscribe_to = {12};
  ZmqTransport b(11, ob);
  EXPECT_EQ(hook_calls, 6);
  auto got = send_until_received(c, b, {Bytes{42}});
  ASSERT_FALSE(got.empty());
  a.send(Bytes{1});
  c.send(Bytes{2});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  got = b.poll(b.now_ns());
  for (const auto& d : got) EXPECT_EQ(d.sender, 12);
}

TEST(ZmqTransport, BindFailureThrowsNamingTheEndpoint) {
  ZmqTransportOptions o;
  o.bind_endpoint = "tcp://256.0.0.1:1";
  try {
    ZmqTransport t(1, o);
    FAIL() << "expected a throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("256.0.0.1"), std::string::npos);
  }
}
