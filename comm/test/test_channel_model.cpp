#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "v2x/comm/channel_model.hpp"

using namespace v2x;
using namespace v2x::comm;

namespace {
Bytes packet(std::size_t n, std::uint8_t tag = 0) { return Bytes(n, tag); }

// Sends `count` datagrams from agent 1 every `period_ns`; returns what agent 2 received by the end.
std::vector<Datagram> run(ChannelModelConfig cfg, int count, TimestampNs period_ns, std::size_t size,
                          ChannelStats* stats = nullptr, TransportStats* tx = nullptr) {
  ChannelMedium m(cfg);
  auto a = m.attach(1);
  auto b = m.attach(2);
  b->set_keep_newest(false);
  std::vector<Datagram> got;
  for (int i = 0; i < count; ++i) {
    m.set_time(i * period_ns);
    a->send(packet(size, static_cast<std::uint8_t>(i)));
    auto r = b->poll(m.now_ns());
    got.insert(got.end(), r.begin(), r.end());
  }
  auto r = b->poll(std::numeric_limits<TimestampNs>::max());
  got.insert(got.end(), r.begin(), r.end());
  if (stats) *stats = m.stats();
  if (tx) *tx = a->stats();
  return got;
}
}  // namespace

TEST(ChannelModel, AppliesLatencyAndBoundedJitter) {
  ChannelModelConfig cfg;
  cfg.latency_ms = 20;
  cfg.jitter_ms = 5;
  ChannelMedium m(cfg);
  auto a = m.attach(1);
  auto b = m.attach(2);
  b->set_keep_newest(false);
  m.set_time(1'000'000'000);
  for (int i = 0; i < 50; ++i) a->send(packet(100));
  EXPECT_TRUE(b->poll(1'000'000'000 + 19'999'999).empty());
  auto got = b->poll(1'000'000'000 + 25'000'000);
  ASSERT_EQ(got.size(), 50u);
  TimestampNs lo = got.front().arrival_ns, hi = lo;
  for (const auto& d : got) {
    EXPECT_GE(d.arrival_ns, 1'020'000'000);
    EXPECT_LE(d.arrival_ns, 1'025'000'000);
    lo = std::min(lo, d.arrival_ns), hi = std::max(hi, d.arrival_ns);
  }
  EXPECT_GT(hi - lo, 1'000'000);  // jitter actually spreads arrivals
}

TEST(ChannelModel, BernoulliLossRateMatchesForSeededRuns) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    ChannelModelConfig cfg;
    cfg.loss = LossModel::Bernoulli;
    cfg.loss_rate = 0.2;
    cfg.seed = seed;
    const int n = 20000;
    const auto got = run(cfg, n, 1'000'000, 50);
    const double loss = 1.0 - static_cast<double>(got.size()) / n;
    EXPECT_NEAR(loss, 0.2, 0.015) << seed;  // ~5 sigma
  }
}

TEST(ChannelModel, GilbertElliottLossMatchesStationaryRateAndIsBursty) {
  ChannelModelConfig cfg;
  cfg.loss = LossModel::GilbertElliott;
  cfg.ge_p_good_to_bad = 0.05;
  cfg.ge_p_bad_to_good = 0.2;
  cfg.ge_loss_good = 0.01;
  cfg.ge_loss_bad = 0.8;
  cfg.seed = 7;
  const int n = 40000;
  const auto got = run(cfg, n, 1'000'000, 50);
  // No jitter: datagram i arrives at i ms + latency, so the loss pattern follows from the arrival times.
  std::vector<bool> received(n, false);
  for (const auto& d : got) received[static_cast<std::size_t>((d.arrival_ns - 5'000'000) / 1'000'000)] = true;
  const double loss = 1.0 - static_cast<double>(got.size()) / n;
  EXPECT_NEAR(loss, cfg.expected_loss_rate(), 0.03);
  // Burstiness: P(loss | previous lost) well above the marginal loss rate (Bernoulli would give equality).
  int lost_after_lost = 0, lost_prev = 0;
  for (int i = 1; i < n; ++i)
    if (!received[i - 1]) {
      ++lost_prev;
      lost_after_lost += !received[i];
    }
  EXPECT_GT(static_cast<double>(lost_after_lost) / lost_prev, loss + 0.3);
}

TEST(ChannelModel, BandwidthCapIsRespected) {
  ChannelModelConfig cfg;
  cfg.latency_ms = 0;
  cfg.bandwidth_mbps = 8.0;  // 1 MB/s
  cfg.bucket_bytes = 10000;
  cfg.max_queue_ms = 50;
  ChannelStats st;
  TransportStats tx;
  // Offer 4 MB/s (1000-byte datagrams every 0.25 ms) for 2 s.
  const auto got = run(cfg, 8000, 250'000, 1000, &st, &tx);
  ASSERT_FALSE(got.empty());
  EXPECT_GT(st.dropped_queue, 0u);
  EXPECT_EQ(tx.datagrams_sent, got.size());
  EXPECT_EQ(tx.bytes_sent, got.size() * 1000);
  // Any window [t0, t1]: bytes delivered ≤ bucket + rate * (t1 - t0).
  std::vector<TimestampNs> t;
  for (const auto& d : got) t.push_back(d.arrival_ns);
  std::sort(t.begin(), t.end());
  for (std::size_t i = 0; i < t.size(); i += 97)
    for (std::size_t j = i; j < t.size(); j += 211) {
      const double bytes = static_cast<double>(j - i + 1) * 1000;
      EXPECT_LE(bytes, 10000 + 1e6 * ns_to_s(t[j] - t[i]) + 1000) << i << " " << j;
    }
  const double rate = static_cast<double>(got.size()) * 1000 / ns_to_s(t.back() - t.front());
  EXPECT_NEAR(rate, 1e6, 0.05e6);  // saturated link runs at the cap
}

TEST(ChannelModel, DatagramsAboveTheMtuAreNotSent) {
  ChannelModelConfig cfg;
  cfg.mtu_bytes = 1398;
  ChannelStats st;
  TransportStats tx;
  const auto got = run(cfg, 10, 1'000'000, 1399, &st, &tx);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(st.dropped_mtu, 10u);
  EXPECT_EQ(tx.send_failures, 10u);
  EXPECT_EQ(tx.bytes_sent, 0u);
}

TEST(ChannelModel, SameSeedSameOutcome) {
  ChannelModelConfig cfg;
  cfg.loss = LossModel::GilbertElliott;
  cfg.jitter_ms = 3;
  cfg.seed = 99;
  const auto a = run(cfg, 2000, 1'000'000, 10), b = run(cfg, 2000, 1'000'000, 10);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].arrival_ns, b[i].arrival_ns);
}

TEST(ChannelModel, KeepNewestDropsOlderBatchesOfAPeer) {
  ChannelModelConfig cfg;
  cfg.latency_ms = 1;
  ChannelMedium m(cfg);
  auto a = m.attach(1);
  auto b = m.attach(2);
  auto c = m.attach(3);
  const std::vector<Bytes> frags = {packet(10, 1), packet(10, 2)};
  a->send(frags);
  a->send(frags);
  c->send(packet(5));
  auto got = b->poll(10'000'000);
  ASSERT_EQ(got.size(), 3u);  // a's second batch (2 fragments) + c's one
  EXPECT_EQ(b->stats().dropped_superseded, 2u);
  for (const auto& d : got)
    if (d.sender == 1) {
      EXPECT_EQ(d.batch, 2u);
    }
}

TEST(ChannelModel, ConfigValidationRejectsOutOfRangeValues) {
  ChannelModelConfig cfg;
  cfg.loss_rate = 1.5;
  EXPECT_THROW(ChannelMedium{cfg}, ConfigError);
}
