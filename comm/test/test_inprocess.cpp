#include <gtest/gtest.h>

#include "test_util.hpp"
#include "v2x/comm/codec.hpp"
#include "v2x/comm/transport.hpp"

using namespace v2x;
using namespace v2x::comm;

TEST(InProcessTransport, DeliversToEveryOtherAgentAndCountsBytes) {
  auto hub = std::make_shared<InProcessHub>();
  InProcessTransport a(hub, 1), b(hub, 2), c(hub, 3);
  const auto f = test::make_features(31, 50, 8);
  const Bytes msg = encode(f).value();
  ASSERT_TRUE(a.send(msg));
  EXPECT_EQ(a.stats().bytes_sent, msg.size());
  EXPECT_TRUE(a.poll(0).empty());  // not to itself
  for (auto* t : {&b, &c}) {
    auto got = t->poll(0);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].sender, 1);
    auto d = decode(got[0].bytes);
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->cell_indices, f.cell_indices);
  }
}

TEST(InProcessTransport, RespectsTheHubClockAndKeepsTheNewestBatch) {
  auto hub = std::make_shared<InProcessHub>();
  InProcessTransport a(hub, 1), b(hub, 2);
  hub->set_time(100);
  a.send(Bytes{1});
  hub->set_time(200);
  a.send(Bytes{2});
  auto got = b.poll(150);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, Bytes{1});
  a.send(Bytes{3});
  got = b.poll(1000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bytes, Bytes{3});
  EXPECT_EQ(b.stats().dropped_superseded, 1u);
}

TEST(InProcessTransport, AttachingTheSameAgentTwiceThrows) {
  auto hub = std::make_shared<InProcessHub>();
  InProcessTransport a(hub, 1);
  EXPECT_THROW(InProcessTransport(hub, 1), std::runtime_error);
}
