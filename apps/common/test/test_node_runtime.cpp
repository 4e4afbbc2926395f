// NodeRuntime plumbing over the in-process transport, with a fake Perception and a fake Fuser defined here
// (the product path plugs in encoder::LidarDetector and fusion/'s fusers through v2x_runtime).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <set>

#include "runtime_fakes.hpp"
#include "v2x/apps/config_yaml.hpp"
#include "v2x/apps/node_runtime.hpp"
#include "v2x/comm/codec.hpp"
#include "v2x/comm/transport.hpp"
#include "v2x/core/rng.hpp"
#include "v2x/selection/selection_config.hpp"

using namespace v2x;
using namespace v2x::apps;
using namespace v2x::test;

namespace {

AgentFrame make_frame(AgentId id, TimestampNs stamp, std::uint64_t seed, double x_m = 0.0) {
  AgentFrame f;
  f.id = id;
  f.stamp_ns = stamp;
  f.cloud = make_cloud(seed);
  f.T_world_lidar = planar_pose(x_m, 0.0, 1.8, 0.0);
  return f;
}

NodeConfig node_config(fusion::FusionMethod m, selection::SelectorKind sel = selection::SelectorKind::SendAll,
                       int budget = 8192) {
  NodeConfig c;
  c.fusion = m;
  c.selection.kind = sel;
  c.selection.budget.budget_bytes = budget;
  return c;
}

struct Fleet {
  std::shared_ptr<comm::InProcessHub> hub = std::make_shared<comm::InProcessHub>();
  std::shared_ptr<FakePerception> perception = std::make_shared<FakePerception>();
  std::vector<std::unique_ptr<NodeRuntime>> nodes;
  RecordingFuser* ego_fuser = nullptr;

  Fleet(const NodeConfig& cfg, std::vector<AgentId> ids) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      std::unique_ptr<fusion::Fuser> fuser;
      if (i == 0) {
        auto f = std::make_unique<RecordingFuser>(cfg.fusion);
        ego_fuser = f.get();
        fuser = std::move(f);
      }
      nodes.push_back(std::make_unique<NodeRuntime>(
          cfg, std::make_unique<comm::InProcessTransport>(hub, ids[i]), perception, std::move(fuser)));
    }
  }
};

}  // namespace

TEST(NodeRuntime, ThreeAgentsCountBytesEqualToTheEncodedMessages) {
  const NodeConfig cfg = node_config(fusion::FusionMethod::Anchor, selection::SelectorKind::TopK, 4096);
  Fleet fleet(cfg, {1, 2, 3});
  std::vector<AgentFrame> frames;
  for (AgentId id : {1, 2, 3}) frames.push_back(make_frame(id, 0, 10 + id, 5.0 * id));
  std::size_t sent_by_peers = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const FrameStats& st = fleet.nodes[i]->produce(frames[i]);
    ASSERT_TRUE(st.sent);
    EXPECT_EQ(st.datagrams_sent, 1u);
    EXPECT_GT(st.cells_sent, 0u);
    EXPECT_GT(st.anchors_sent, 0u);
    EXPECT_LE(st.bytes_sent, st.budget_bytes_bound);
    // The same selection encoded independently has exactly the counted size.
    auto selector = selection::make_selector(cfg.selection);
    const LocalPerception& local = fleet.nodes[i]->local();
    auto sel = selector->select(
        selection::SelectionInput{&local.features, frames[i].T_world_lidar, local.proposals, nullptr});
    auto msg = selection::make_sparse_features(local.features, sel, frames[i].T_world_lidar, local.proposals, 1,
                                               cfg.selection.budget.quant);
    msg.sender = frames[i].id;
    msg.stamp_ns = frames[i].stamp_ns;
    EXPECT_EQ(st.bytes_sent, comm::encode(msg).value().size());
    EXPECT_EQ(st.bytes_sent, fleet.nodes[i]->transport().stats().bytes_sent);
    if (i > 0) sent_by_peers += st.bytes_sent;
  }
  FrameResult r = fleet.nodes[0]->consume(0);
  EXPECT_EQ(r.stats.peers_heard, 2);
  EXPECT_EQ(r.stats.peers_used, 2);
  EXPECT_EQ(r.stats.dropped.total_dropped(), 0);
  // The ego received exactly what the two peers sent.
  EXPECT_EQ(fleet.nodes[0]->transport().stats().bytes_received, sent_by_peers);
  ASSERT_EQ(fleet.ego_fuser->last_peers.size(), 2u);
  std::set<AgentId> senders;
  for (const auto& p : fleet.ego_fuser->last_peers) {
    senders.insert(p.msg.sender);
    EXPECT_GT(p.msg.num_cells(), 0u);
    EXPECT_EQ(p.msg.channels, 4);
    EXPECT_EQ(p.age_ns, 0);
  }
  EXPECT_EQ(senders, (std::set<AgentId>{2, 3}));
  EXPECT_EQ(fleet.perception->calls, 3);  // one shared model served every agent
}

TEST(NodeRuntime, CorruptDatagramIsCountedAndDoesNotDisturbTheOthers) {
  const NodeConfig cfg = node_config(fusion::FusionMethod::Late);
  auto run = [&](bool inject) {
    Fleet fleet(cfg, {1, 2, 3});
    comm::InProcessTransport attacker(fleet.hub, 66);
    for (AgentId id : {1, 2, 3}) fleet.nodes[id - 1]->produce(make_frame(id, 0, 20 + id, 3.0 * id));
    if (inject) {
      Rng rng(5);
      comm::Bytes garbage(300);
      for (auto& b : garbage) b = static_cast<std::uint8_t>(rng.next_u64());
      attacker.send(garbage);
    }
    return fleet.nodes[0]->consume(0);
  };
  const FrameResult clean = run(false);
  const FrameResult dirty = run(true);
  EXPECT_EQ(clean.stats.dropped.corrupt, 0);
  EXPECT_EQ(dirty.stats.dropped.corrupt, 1);
  EXPECT_EQ(dirty.stats.peers_heard, 2);
  ASSERT_EQ(dirty.detections.detections.size(), clean.detections.detections.size());
  ASSERT_GT(clean.detections.detections.size(), 0u);
  for (std::size_t i = 0; i < clean.detections.detections.size(); ++i) {
    EXPECT_EQ(dirty.detections.detections[i].box.center, clean.detections.detections[i].box.center);
    EXPECT_EQ(dirty.detections.detections[i].score, clean.detections.detections[i].score);
  }
}

TEST(NodeRuntime, BitFlippedMessageIsCountedCorrupt) {
  const NodeConfig cfg = node_config(fusion::FusionMethod::Max);
  Fleet fleet(cfg, {1, 2});
  comm::InProcessTransport tap(fleet.hub, 77);
  fleet.nodes[1]->produce(make_frame(2, 0, 3));
  auto got = tap.poll(0);
  ASSERT_EQ(got.size(), 1u);
  // Re-send agent 2's message with one byte flipped, from another agent id: CRC must reject it.
  comm::Bytes b = got[0].bytes;
  b[b.size() / 2] ^= 0x5A;
  comm::InProcessTransport forger(fleet.hub, 78);
  forger.send(b);
  fleet.nodes[0]->produce(make_frame(1, 0, 4));
  FrameResult r = fleet.nodes[0]->consume(0);
  EXPECT_EQ(r.stats.dropped.corrupt, 1);
  EXPECT_EQ(r.stats.peers_heard, 1);
}

TEST(NodeRuntime, StaleAndFutureMessagesAreDropped) {
  NodeConfig cfg = node_config(fusion::FusionMethod::Late);
  cfg.comm.max_message_age_ms = 200;
  cfg.comm.max_future_ms = 20;
  Fleet fleet(cfg, {1, 2, 3});
  const TimestampNs t_ego = 1000 * kNsPerMs;
  fleet.nodes[1]->produce(make_frame(2, t_ego - 500 * kNsPerMs, 1));  // 500 ms old: stale
  fleet.nodes[2]->produce(make_frame(3, t_ego + 100 * kNsPerMs, 2));  // 100 ms ahead: future
  fleet.nodes[0]->produce(make_frame(1, t_ego, 3));
  FrameResult r = fleet.nodes[0]->consume(t_ego);
  EXPECT_EQ(r.stats.dropped.stale, 1);
  EXPECT_EQ(r.stats.dropped.future, 1);
  EXPECT_EQ(r.stats.peers_heard, 0);
  EXPECT_TRUE(fleet.ego_fuser->last_peers.empty());
}

TEST(NodeRuntime, MessageAgeIsPassedToTheFuser) {
  const NodeConfig cfg = node_config(fusion::FusionMethod::Late);
  Fleet fleet(cfg, {1, 2});
  fleet.nodes[1]->produce(make_frame(2, 900 * kNsPerMs, 1));
  fleet.nodes[0]->produce(make_frame(1, 1000 * kNsPerMs, 2));
  fleet.nodes[0]->consume(1000 * kNsPerMs);
  ASSERT_EQ(fleet.ego_fuser->last_peers.size(), 1u);
  EXPECT_EQ(fleet.ego_fuser->last_peers[0].age_ns, 100 * kNsPerMs);
}

TEST(NodeRuntime, ReplayedAndUnlistedSendersAreUnauthenticated) {
  NodeConfig cfg = node_config(fusion::FusionMethod::Late);
  Fleet fleet(cfg, {1, 2});
  comm::InProcessTransport tap(fleet.hub, 90);
  fleet.nodes[1]->produce(make_frame(2, 0, 1));
  const comm::Bytes first = tap.poll(0).at(0).bytes;
  fleet.nodes[0]->produce(make_frame(1, 0, 2));
  EXPECT_EQ(fleet.nodes[0]->consume(0).stats.peers_heard, 1);
  // A third party replays agent 2's old message next frame (after agent 2's newer one was accepted).
  fleet.nodes[1]->produce(make_frame(2, 100 * kNsPerMs, 1));
  fleet.nodes[0]->produce(make_frame(1, 100 * kNsPerMs, 2));
  EXPECT_EQ(fleet.nodes[0]->consume(100 * kNsPerMs).stats.peers_heard, 1);
  tap.send(first);
  fleet.nodes[0]->produce(make_frame(1, 200 * kNsPerMs, 2));
  FrameResult r = fleet.nodes[0]->consume(200 * kNsPerMs);
  EXPECT_EQ(r.stats.dropped.unauthenticated, 1);
  EXPECT_EQ(r.stats.peers_heard, 0);

  // allow-list: only agent 3 may talk to this ego.
  NodeConfig strict = cfg;
  strict.allowed_peers = {3};
  Fleet f2(strict, {1, 2});
  f2.nodes[1]->produce(make_frame(2, 0, 1));
  f2.nodes[0]->produce(make_frame(1, 0, 2));
  EXPECT_EQ(f2.nodes[0]->consume(0).stats.dropped.unauthenticated, 1);
}

TEST(NodeRuntime, BudgetIsRespectedForEveryQuantization) {
  for (Quantization q : {Quantization::Fp32, Quantization::Fp16, Quantization::Int8, Quantization::Int4})
    for (int budget : {512, 1024, 2048, 6000}) {
      SCOPED_TRACE(std::string(enum_name(q)) + " " + std::to_string(budget));
      NodeConfig cfg = node_config(fusion::FusionMethod::Anchor, selection::SelectorKind::SendAll, budget);
      cfg.selection.budget.quant = q;
      Fleet fleet(cfg, {1, 2});
      const FrameStats& st = fleet.nodes[1]->produce(make_frame(2, 0, 7));
      ASSERT_TRUE(st.sent);
      EXPECT_LE(st.bytes_sent, static_cast<std::size_t>(budget));
      EXPECT_GT(st.bytes_sent, 0u);
    }
}

TEST(NodeRuntime, MessageForAnotherGridIsDropped) {
  const NodeConfig cfg = node_config(fusion::FusionMethod::Max);
  auto hub = std::make_shared<comm::InProcessHub>();
  auto ego_fuser = std::make_unique<RecordingFuser>(cfg.fusion);
  RecordingFuser* fuser = ego_fuser.get();
  NodeRuntime ego(cfg, std::make_unique<comm::InProcessTransport>(hub, 1), std::make_shared<FakePerception>(),
                  std::move(ego_fuser));
  NodeRuntime other(cfg, std::make_unique<comm::InProcessTransport>(hub, 2),
                    std::make_shared<FakePerception>(BevGrid{-25.6, 25.6, -25.6, 25.6, 0.8}), nullptr);
  other.produce(make_frame(2, 0, 1));
  ego.produce(make_frame(1, 0, 2));
  FrameResult r = ego.consume(0);
  EXPECT_EQ(r.stats.dropped.grid, 1);
  EXPECT_TRUE(fuser->last_peers.empty());
  EXPECT_THROW(other.consume(0), std::logic_error);  // no fuser: a send-only replay peer
}

TEST(NodeRuntime, FragmentsFitTheMtuAndReassemble) {
  NodeConfig cfg = node_config(fusion::FusionMethod::Max, selection::SelectorKind::SendAll, 16384);
  cfg.comm.mtu_bytes = 600;
  cfg.selection.budget.quant = Quantization::Fp32;
  Fleet fleet(cfg, {1, 2});
  comm::InProcessTransport tap(fleet.hub, 9);
  const FrameStats& st = fleet.nodes[1]->produce(make_frame(2, 0, 1));
  EXPECT_GT(st.datagrams_sent, 1u);
  std::size_t total = 0;
  for (const auto& d : tap.poll(0)) {
    EXPECT_LE(d.bytes.size(), 600u);
    total += d.bytes.size();
  }
  EXPECT_EQ(total, st.bytes_sent);
  fleet.nodes[0]->produce(make_frame(1, 0, 2));
  FrameResult r = fleet.nodes[0]->consume(0);
  EXPECT_EQ(r.stats.peers_heard, 1);
  ASSERT_EQ(fleet.ego_fuser->last_peers.size(), 1u);
  EXPECT_EQ(fleet.ego_fuser->last_peers[0].msg.num_cells(), st.cells_sent);
}

TEST(NodeRuntime, EarlyFusionShipsRawPoints) {
  NodeConfig cfg = node_config(fusion::FusionMethod::Early);
  cfg.comm.max_points = 500;
  Fleet fleet(cfg, {1, 2});
  const AgentFrame peer = make_frame(2, 0, 1, 7.0);
  const FrameStats& st = fleet.nodes[1]->produce(peer);
  EXPECT_EQ(st.points_sent, 500u);
  EXPECT_GT(st.bytes_sent, 0u);
  fleet.nodes[0]->produce(make_frame(1, 0, 2));
  fleet.nodes[0]->consume(0);
  ASSERT_EQ(fleet.ego_fuser->last_peers.size(), 1u);
  const auto& p = fleet.ego_fuser->last_peers[0];
  ASSERT_TRUE(p.points.has_value());
  EXPECT_EQ(p.points->size(), 500u);
  EXPECT_TRUE(p.msg.T_world_lidar.isApprox(peer.T_world_lidar, 1e-9));
}

TEST(NodeRuntime, CachedCellsOfAPeerThatStopsSendingStayUntilTheyAgeOut) {
  NodeConfig cfg = node_config(fusion::FusionMethod::Max);
  cfg.peer_cache.max_age_ms = 250;
  Fleet fleet(cfg, {1, 2});
  fleet.nodes[1]->produce(make_frame(2, 0, 1));
  fleet.nodes[0]->produce(make_frame(1, 0, 2));
  fleet.nodes[0]->consume(0);
  const std::size_t cells = fleet.ego_fuser->last_peers.at(0).msg.num_cells();
  ASSERT_GT(cells, 0u);
  // Agent 2 is silent for the next frames.
  fleet.nodes[0]->produce(make_frame(1, 100 * kNsPerMs, 2));
  fleet.nodes[0]->consume(100 * kNsPerMs);
  ASSERT_EQ(fleet.ego_fuser->last_peers.size(), 1u);
  EXPECT_EQ(fleet.ego_fuser->last_peers[0].msg.num_cells(), cells);
  EXPECT_EQ(fleet.ego_fuser->last_peers[0].age_ns, 100 * kNsPerMs);
  fleet.nodes[0]->produce(make_frame(1, 400 * kNsPerMs, 2));
  fleet.nodes[0]->consume(400 * kNsPerMs);
  EXPECT_TRUE(fleet.ego_fuser->last_peers.empty());
}

TEST(NodeRuntime, NoFusionSendsNothing) {
  const NodeConfig cfg = node_config(fusion::FusionMethod::None);
  Fleet fleet(cfg, {1, 2});
  EXPECT_FALSE(fleet.nodes[1]->produce(make_frame(2, 0, 1)).sent);
  EXPECT_EQ(fleet.nodes[1]->transport().stats().bytes_sent, 0u);
  fleet.nodes[0]->produce(make_frame(1, 0, 2));
  FrameResult r = fleet.nodes[0]->consume(0);
  EXPECT_EQ(r.stats.datagrams_received, 0);
  EXPECT_GT(r.detections.detections.size(), 0u);
}

TEST(NodeRuntime, FuserOfAnotherMethodIsRefused) {
  auto hub = std::make_shared<comm::InProcessHub>();
  EXPECT_THROW(NodeRuntime(node_config(fusion::FusionMethod::Late), std::make_unique<comm::InProcessTransport>(hub, 1),
                           std::make_shared<FakePerception>(), std::make_unique<RecordingFuser>(fusion::FusionMethod::Max)),
               ConfigError);
}

TEST(NodeConfig, YamlKeysMapOntoTheConfigAndBadValuesNameTheKey) {
  const auto cfg = load_config<ReplayConfig>("config/replay/opv2v_noisy.yaml");
  EXPECT_EQ(cfg.node.fusion, fusion::FusionMethod::Late);
  EXPECT_EQ(cfg.node.selection.budget.budget_bytes, 16384);
  EXPECT_DOUBLE_EQ(cfg.pose_noise.xy_m, 0.2);
  EXPECT_DOUBLE_EQ(cfg.latency_ms, 100.0);
  try {
    load_config_node<NodeConfig>(YAML::Load("fusion: anchor\ncomm: {mtu_bytes: 100}"), "x.yaml");
    FAIL() << "an MTU below 256 bytes must be refused";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key(), "comm.mtu_bytes");
  }
  EXPECT_THROW(load_config_node<NodeConfig>(YAML::Load("fusion: fancy"), "x.yaml"), ConfigError);
  EXPECT_THROW(load_config_node<NodeConfig>(YAML::Load("comm: {mtu: 1}"), "x.yaml"), ConfigError);
  EXPECT_EQ(quantization_from_bits(4), Quantization::Int4);
  EXPECT_EQ(bits_of(quantization_from_bits(16)), 16);
  EXPECT_THROW(quantization_from_bits(7), std::invalid_argument);
}

TEST(NodeRuntime, MessageCarriesTheModalityThatProducedIt) {
  // A LiDAR agent's message says LiDAR; an agent configured without LiDAR (a camera-only agent whose perception
  // has no camera branch here) sends an empty map marked with no modality, and no raw points in early fusion.
  for (const auto method : {fusion::FusionMethod::Max, fusion::FusionMethod::Early}) {
    NodeConfig cfg = node_config(method);
    Fleet lidar_fleet(cfg, {1, 2});
    lidar_fleet.nodes[1]->produce(make_frame(2, 0, 1, 7.0));
    lidar_fleet.nodes[0]->produce(make_frame(1, 0, 2));
    lidar_fleet.nodes[0]->consume(0);
    ASSERT_EQ(lidar_fleet.ego_fuser->last_peers.size(), 1u);
    EXPECT_EQ(lidar_fleet.ego_fuser->last_peers[0].msg.modality, kModalityLidar);

    NodeConfig blind = cfg;
    blind.sensors = SensorSet::Camera;
    blind.camera_model_dir = "unused-by-the-fake";
    auto hub = lidar_fleet.hub;
    NodeRuntime camera_agent(blind, std::make_unique<comm::InProcessTransport>(hub, 3), lidar_fleet.perception, nullptr);
    const FrameStats& st = camera_agent.produce(make_frame(3, 100 * kNsPerMs, 3, -7.0));
    EXPECT_EQ(camera_agent.local().modality, 0);
    EXPECT_TRUE(camera_agent.local().detections.detections.empty());
    EXPECT_EQ(st.points_sent, 0u);
    lidar_fleet.nodes[0]->produce(make_frame(1, 100 * kNsPerMs, 4));
    lidar_fleet.nodes[0]->consume(100 * kNsPerMs);
    bool heard = false;
    for (const auto& p : lidar_fleet.ego_fuser->last_peers)
      if (p.msg.sender == 3) {
        heard = true;
        // (a points message has no modality field: early fusion receivers see no points instead)
        if (method != fusion::FusionMethod::Early) EXPECT_EQ(p.msg.modality, 0);
        if (method == fusion::FusionMethod::Early) {
          ASSERT_TRUE(p.points.has_value());
          EXPECT_EQ(p.points->size(), 0u);
        }
      }
    EXPECT_TRUE(heard) << enum_name(method);
  }
}
