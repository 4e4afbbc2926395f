#include "v2x/apps/node_runtime.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "v2x/selection/selection_config.hpp"

namespace v2x::apps {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool sends_cells(fusion::FusionMethod m) {
  return m == fusion::FusionMethod::Max || m == fusion::FusionMethod::Attn || m == fusion::FusionMethod::Anchor;
}

// Deterministic even subsample of at most `max_points` points (keeps cloud order).
PointCloud subsample(const PointCloud& c, std::size_t max_points) {
  if (c.size() <= max_points) return c;
  PointCloud out;
  out.reserve(max_points);
  for (std::size_t k = 0; k < max_points; ++k) {
    const std::size_t i = k * c.size() / max_points;
    out.push_back(c.x[i], c.y[i], c.z[i], i < c.intensity.size() ? c.intensity[i] : 0.f);
  }
  return out;
}

}  // namespace

LocalPerception empty_perception(const BevGrid& grid, int channels, AgentId agent, TimestampNs stamp_ns) {
  LocalPerception out;
  out.features = FeatureMap(channels, grid.height(), grid.width());
  out.features.grid = grid;
  out.features.confidence.assign(out.features.cells(), 0.f);
  out.features.agent = agent;
  out.features.stamp_ns = stamp_ns;
  out.detections.agent = agent;
  out.detections.stamp_ns = stamp_ns;
  return out;
}

double& StageTimes::at(std::size_t i) {
  double* f[] = {&encode, &select, &pack, &transport, &decode, &fuse, &detect, &total};
  return *f[i];
}
double StageTimes::at(std::size_t i) const { return const_cast<StageTimes*>(this)->at(i); }

void DropCounts::add(const DropCounts& o) {
  corrupt += o.corrupt;
  stale += o.stale;
  future += o.future;
  unauthenticated += o.unauthenticated;
  grid += o.grid;
  own += o.own;
  fragment += o.fragment;
  fuser_stale += o.fuser_stale;
  fuser_grid += o.fuser_grid;
  fuser_down_weighted += o.fuser_down_weighted;
}

void count_decode_error(const Error& e, DropCounts& d) {
  switch (e.code) {
    case ErrorCode::Stale: ++d.stale; break;
    case ErrorCode::Unauthenticated: ++d.unauthenticated; break;
    case ErrorCode::Mismatch: ++d.grid; break;
    default: ++d.corrupt; break;  // Corrupt, Truncated, WrongVersion, BadChecksum, OutOfRange, ...
  }
}

NodeRuntime::NodeRuntime(NodeConfig cfg, std::unique_ptr<comm::Transport> transport,
                         std::shared_ptr<Perception> perception, std::unique_ptr<fusion::Fuser> fuser)
    : cfg_(std::move(cfg)),
      transport_(std::move(transport)),
      perception_(std::move(perception)),
      fuser_(std::move(fuser)),
      cache_(cfg_.peer_cache) {
  if (!transport_) throw std::invalid_argument("NodeRuntime: no transport");
  if (!perception_) throw std::invalid_argument("NodeRuntime: no perception");
  validate_config(cfg_);
  cfg_.agent_id = transport_->self();
  if (fuser_ && fuser_->method() != cfg_.fusion)
    throw ConfigError("", "fusion", "the fuser is '" + std::string(enum_name(fuser_->method())) +
                                        "' but the node is configured for '" + std::string(enum_name(cfg_.fusion)) + "'");
  selector_ = selection::make_selector(cfg_.selection);
}

NodeRuntime::~NodeRuntime() = default;

void NodeRuntime::reset() {
  selector_->reset();
  cache_ = selection::PeerCellCache(cfg_.peer_cache);
  peers_.clear();
  have_frame_ = false;
  cloud_ = nullptr;
}

const FrameStats& NodeRuntime::produce(const AgentFrame& frame, const Pose& T_world_lidar_believed) {
  const auto t0 = Clock::now();
  send_stats_ = FrameStats{};
  frame_meta_.id = cfg_.agent_id;
  frame_meta_.stamp_ns = frame.stamp_ns;
  frame_meta_.is_rsu = frame.is_rsu;
  frame_meta_.speed_mps = frame.speed_mps;
  cloud_ = &frame.cloud;
  T_world_lidar_believed_ = T_world_lidar_believed;
  have_frame_ = true;

  local_ = perception_->perceive(frame, cfg_.agent_id, cfg_.sensors);
  local_.features.agent = cfg_.agent_id;
  local_.features.stamp_ns = frame.stamp_ns;
  send_stats_.ms.encode = local_.encode_ms;
  send_stats_.ms.detect = local_.detect_ms;
  send_message(send_stats_);
  send_stats_.ms.total = ms_since(t0);
  return send_stats_;
}

void NodeRuntime::send_message(FrameStats& st) {
  const fusion::FusionMethod method = cfg_.fusion;
  if (method == fusion::FusionMethod::None) return;
  const std::uint32_t seq = ++sequence_;
  const Quantization quant = cfg_.selection.budget.quant;
  const std::size_t mtu = static_cast<std::size_t>(cfg_.comm.mtu_bytes);

  Expected<std::vector<comm::Bytes>> datagrams = std::vector<comm::Bytes>{};
  if (method == fusion::FusionMethod::Early) {
    auto t = Clock::now();
    PointsMessage pm;
    pm.sender = cfg_.agent_id;
    pm.stamp_ns = frame_meta_.stamp_ns;
    pm.sequence = seq;
    pm.T_world_lidar = T_world_lidar_believed_;
    // An agent whose LiDAR was not used (camera-only) has no points to send: an empty points message.
    if (local_.modality & kModalityLidar) pm.cloud = subsample(*cloud_, static_cast<std::size_t>(cfg_.comm.max_points));
    st.ms.select = ms_since(t);
    t = Clock::now();
    comm::PointsEncodeStats ps;
    datagrams = encode_points_message(pm, mtu, cfg_.comm.lz4, &ps);
    st.points_sent = ps.points_sent;
    st.ms.pack = ms_since(t);
  } else {
    auto t = Clock::now();
    const FeatureMap& map = local_.features;
    selection::SelectionResult sel;
    std::vector<SparseAnchor> boxes;
    std::span<const SparseAnchor> anchors;
    if (method == fusion::FusionMethod::Late) {
      // Boxes only: the whole budget may go to anchors, no cells.
      boxes.reserve(local_.detections.detections.size());
      for (const auto& d : local_.detections.detections) boxes.push_back(SparseAnchor{d.box, d.score, {}});
      anchors = boxes;
      selection::BudgetConfig b = cfg_.selection.budget;
      b.anchor_budget_fraction = 1.0;
      sel = selection::fit_budget(map, anchors, {}, b);
    } else {
      if (method == fusion::FusionMethod::Anchor) anchors = local_.proposals;
      sel = selector_->select(selection::SelectionInput{&map, T_world_lidar_believed_, anchors, nullptr});
    }
    st.ms.select = ms_since(t);
    t = Clock::now();
    SparseFeatures msg =
        selection::make_sparse_features(map, sel, T_world_lidar_believed_, anchors, seq, quant, local_.modality);
    msg.sender = cfg_.agent_id;
    msg.stamp_ns = frame_meta_.stamp_ns;
    st.cells_sent = msg.num_cells();
    st.anchors_sent = msg.anchors.size();
    st.budget_bytes_bound = sel.bytes;
    if (mtu > 0) {
      datagrams = comm::encode_fragments(msg, mtu, cfg_.comm.lz4);
    } else {
      comm::EncodeOptions opt;
      opt.lz4 = cfg_.comm.lz4;
      auto one = comm::encode(msg, opt);
      if (one) datagrams = std::vector<comm::Bytes>{std::move(one.value())};
      else datagrams = one.error();
    }
    st.ms.pack = ms_since(t);
  }
  if (!datagrams) {
    spdlog::warn("agent {}: message not sent: {}", cfg_.agent_id, datagrams.error().message);
    return;
  }
  const auto t = Clock::now();
  const std::uint64_t before = transport_->stats().bytes_sent;
  const std::uint64_t dgrams_before = transport_->stats().datagrams_sent;
  st.sent = transport_->send(std::span<const comm::Bytes>(datagrams.value()));
  st.bytes_sent = static_cast<std::size_t>(transport_->stats().bytes_sent - before);
  st.datagrams_sent = static_cast<std::size_t>(transport_->stats().datagrams_sent - dgrams_before);
  st.ms.transport = ms_since(t);
}

bool NodeRuntime::accept(AgentId sender, TimestampNs stamp_ns, std::uint32_t sequence, DropCounts& d, bool commit) {
  if (sender == cfg_.agent_id) {
    ++d.own;
    return false;
  }
  if (!cfg_.allowed_peers.empty() &&
      std::find(cfg_.allowed_peers.begin(), cfg_.allowed_peers.end(), sender) == cfg_.allowed_peers.end()) {
    ++d.unauthenticated;
    return false;
  }
  const TimestampNs ego = frame_meta_.stamp_ns;
  if (static_cast<double>(ego - stamp_ns) > cfg_.comm.max_message_age_ms * static_cast<double>(kNsPerMs)) {
    ++d.stale;
    return false;
  }
  if (static_cast<double>(stamp_ns - ego) > cfg_.comm.max_future_ms * static_cast<double>(kNsPerMs)) {
    ++d.future;
    return false;
  }
  PeerState& p = peers_[sender];
  // Replay window: a message must be newer, by (stamp, sequence), than the last accepted one of its sender.
  if (p.have && std::tie(stamp_ns, sequence) <= std::tie(p.last_stamp_ns, p.last_sequence)) {
    ++d.unauthenticated;
    return false;
  }
  if (commit) {
    p.have = true;
    p.last_stamp_ns = stamp_ns;
    p.last_sequence = sequence;
  }
  return true;
}

std::size_t NodeRuntime::discard_incoming(TimestampNs deadline_ns) { return transport_->poll(deadline_ns).size(); }

FrameResult NodeRuntime::consume(TimestampNs deadline_ns) {
  if (!have_frame_) throw std::logic_error("NodeRuntime::consume before produce");
  if (!fuser_) throw std::logic_error("NodeRuntime::consume on a node without a fuser");
  const auto t_start = Clock::now();
  FrameResult res;
  FrameStats& st = res.stats;
  st = send_stats_;

  auto t = Clock::now();
  std::vector<comm::Datagram> datagrams = transport_->poll(deadline_ns);
  st.ms.transport += ms_since(t);
  st.datagrams_received = static_cast<int>(datagrams.size());

  t = Clock::now();
  const BevGrid grid = perception_->feature_grid();
  const int channels = perception_->channels();
  const int anchor_dim = local_.proposals.empty() ? -1 : static_cast<int>(local_.proposals.front().feature.size());
  DropCounts& drops = st.dropped;
  comm::Reassembler reassembler;
  std::map<std::pair<AgentId, std::uint32_t>, PointsMessage> points;  // (sender, sequence) → merged fragments
  std::map<std::pair<AgentId, std::uint32_t>, std::vector<bool>> points_seen;
  for (const comm::Datagram& dg : datagrams) {
    const std::span<const std::uint8_t> bytes(dg.bytes);
    if (is_points_message(bytes)) {
      auto m = decode_points_message(bytes);
      if (!m) {
        count_decode_error(m.error(), drops);
        continue;
      }
      const auto key = std::make_pair(m->sender, m->sequence);
      auto& seen = points_seen[key];
      auto it = points.find(key);
      if (it == points.end()) {
        seen.assign(m->fragment_count, false);
        seen[m->fragment_index] = true;
        points.emplace(key, std::move(m.value()));
      } else if (seen.size() != m->fragment_count || seen[m->fragment_index] || it->second.stamp_ns != m->stamp_ns) {
        ++drops.fragment;
      } else {
        seen[m->fragment_index] = true;
        it->second.cloud.append(m->cloud);
      }
      continue;
    }
    auto m = comm::decode_message(bytes);
    if (!m) {
      count_decode_error(m.error(), drops);
      continue;
    }
    auto added = reassembler.add(std::move(m.value()));
    if (!added) ++drops.fragment;
  }

  // Newest accepted message per sender.
  std::map<AgentId, Received> received;
  auto consider = [&](AgentId sender, TimestampNs stamp, std::uint32_t seq, Received r) {
    if (!accept(sender, stamp, seq, drops, /*commit=*/false)) return;
    auto it = received.find(sender);
    if (it != received.end() && std::tie(it->second.msg.stamp_ns, it->second.msg.sequence) >= std::tie(stamp, seq)) {
      ++drops.unauthenticated;  // an older message of a sender already heard this frame (replayed)
      return;
    }
    received[sender] = std::move(r);
  };
  for (auto& r : reassembler.take(/*include_incomplete=*/true)) {
    SparseFeatures& f = r.features;
    const bool bad_grid = (f.num_cells() > 0 && (!(f.grid == grid) || f.channels != channels)) ||
                          (cfg_.fusion == fusion::FusionMethod::Anchor && f.anchor_dim() > 0 && anchor_dim >= 0 &&
                           f.anchor_dim() != anchor_dim);
    if (bad_grid) {
      if (accept(f.sender, f.stamp_ns, f.sequence, drops, false)) ++drops.grid;
      continue;
    }
    const AgentId s = f.sender;
    const TimestampNs stamp = f.stamp_ns;
    const std::uint32_t seq = f.sequence;
    consider(s, stamp, seq, Received{std::move(f), std::nullopt});
  }
  for (auto& [key, pm] : points) {
    Received r;
    r.msg.sender = pm.sender;
    r.msg.stamp_ns = pm.stamp_ns;
    r.msg.sequence = pm.sequence;
    r.msg.T_world_lidar = pm.T_world_lidar;
    r.msg.grid = grid;
    r.msg.channels = 0;
    r.points = std::move(pm.cloud);
    const AgentId s = r.msg.sender;
    const TimestampNs stamp = r.msg.stamp_ns;
    const std::uint32_t seq = r.msg.sequence;
    consider(s, stamp, seq, std::move(r));
  }
  for (auto& [sender, r] : received) accept(sender, r.msg.stamp_ns, r.msg.sequence, drops, /*commit=*/true);
  st.peers_heard = static_cast<int>(received.size());

  // Peer inputs: cell-carrying methods read the per-peer cache (cells a sender stopped re-sending stay until they
  // age out); the others use this frame's messages.
  const TimestampNs ego_stamp = frame_meta_.stamp_ns;
  std::vector<fusion::PeerInput> peers;
  auto make_peer = [&](SparseFeatures msg, std::optional<PointCloud> pts) {
    fusion::PeerInput p;
    p.age_ns = std::max<TimestampNs>(0, ego_stamp - msg.stamp_ns);
    p.is_rsu = msg.sender < 0;  // OPV2V / V2XSet convention: negative ids are roadside units
    p.msg = std::move(msg);
    p.points = std::move(pts);
    peers.push_back(std::move(p));
  };
  if (sends_cells(cfg_.fusion)) {
    for (auto& [sender, r] : received) cache_.update(r.msg);
    cache_.expire(ego_stamp);
    for (AgentId peer : cache_.peers()) {
      auto v = cache_.view(peer, ego_stamp);
      if (v) {
        received.erase(peer);
        make_peer(std::move(v->features), std::nullopt);
      }
    }
    // Peers whose message held no cells (nothing changed, or only anchors) still contribute their anchors.
    for (auto& [sender, r] : received) make_peer(std::move(r.msg), std::nullopt);
  } else {
    for (auto& [sender, r] : received) make_peer(std::move(r.msg), std::move(r.points));
  }
  st.ms.decode = ms_since(t);

  t = Clock::now();
  fusion::EgoInput ego;
  ego.id = cfg_.agent_id;
  ego.stamp_ns = ego_stamp;
  ego.T_world_lidar = T_world_lidar_believed_;
  ego.cloud = cloud_;
  ego.features = &local_.features;
  ego.local = &local_.detections;
  ego.proposals = &local_.proposals;
  fusion::FusionStats fs;
  res.detections = fuser_->fuse(ego, peers, &fs);
  res.detections.agent = cfg_.agent_id;
  res.detections.stamp_ns = ego_stamp;
  st.ms.fuse = ms_since(t);
  st.peers_used = fs.peers_used;
  drops.fuser_stale += fs.peers_dropped_stale;
  drops.fuser_grid += fs.peers_dropped_grid;
  drops.fuser_down_weighted += fs.peers_down_weighted;
  st.ms.total = send_stats_.ms.total + ms_since(t_start);
  return res;
}

FrameResult NodeRuntime::tick(const AgentFrame& frame, TimestampNs deadline_ns) {
  produce(frame);
  return consume(deadline_ns);
}

}  // namespace v2x::apps
