#include "v2x/selection/peer_cell_cache.hpp"

namespace v2x::selection {

PeerCellCache::PeerCellCache(PeerCacheConfig cfg) : cfg_(cfg) { validate_config(cfg_); }

bool PeerCellCache::update(const SparseFeatures& msg) {
  auto [it, inserted] = peers_.try_emplace(msg.sender);
  Peer& p = it->second;
  if (!inserted) {
    if (msg.stamp_ns < p.latest.stamp_ns) return false;
    if (!(p.latest.grid == msg.grid) || p.latest.channels != msg.channels) {
      p.cells.clear();
    } else if (!p.latest.T_world_lidar.isApprox(msg.T_world_lidar, 1e-12)) {
      // Re-bin cached cells into the new frame through the world frame.
      const BevGrid& g = msg.grid;
      const int W = g.width(), H = g.height();
      const Pose T_new_old = msg.T_world_lidar.inverse() * p.latest.T_world_lidar;
      std::map<std::uint32_t, Entry> moved;
      for (auto& [idx, e] : p.cells) {
        const int x = static_cast<int>(idx % static_cast<std::uint32_t>(W)), y = static_cast<int>(idx / static_cast<std::uint32_t>(W));
        const Eigen::Vector3d q = T_new_old * Eigen::Vector3d(g.cell_center_x(x), g.cell_center_y(y), 0.0);
        const auto c = g.cell_of(q.x(), q.y());
        if (!c || c->first >= W || c->second >= H) continue;
        const auto key = static_cast<std::uint32_t>(c->second * W + c->first);
        auto [mit, ins] = moved.try_emplace(key, std::move(e));
        if (!ins && e.stamp_ns > mit->second.stamp_ns) mit->second = std::move(e);
      }
      p.cells = std::move(moved);
    }
  }
  p.latest = msg;
  p.latest.cell_indices.clear();
  p.latest.values.clear();
  const std::size_t C = static_cast<std::size_t>(msg.channels);
  for (std::size_t i = 0; i < msg.cell_indices.size(); ++i) {
    Entry& e = p.cells[msg.cell_indices[i]];
    e.stamp_ns = msg.stamp_ns;
    e.values.assign(msg.values.begin() + static_cast<std::ptrdiff_t>(i * C),
                    msg.values.begin() + static_cast<std::ptrdiff_t>((i + 1) * C));
  }
  return true;
}

void PeerCellCache::expire(TimestampNs now_ns) {
  const TimestampNs max_age = s_to_ns(cfg_.max_age_ms * 1e-3);
  for (auto it = peers_.begin(); it != peers_.end();) {
    std::erase_if(it->second.cells, [&](const auto& kv) { return now_ns - kv.second.stamp_ns > max_age; });
    if (it->second.cells.empty() && now_ns - it->second.latest.stamp_ns > max_age) it = peers_.erase(it);
    else ++it;
  }
}

std::optional<PeerCellCache::View> PeerCellCache::view(AgentId peer, TimestampNs now_ns) const {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return std::nullopt;
  const TimestampNs max_age = s_to_ns(cfg_.max_age_ms * 1e-3);
  View v;
  v.features = it->second.latest;
  for (const auto& [idx, e] : it->second.cells) {
    if (now_ns - e.stamp_ns > max_age) continue;
    v.features.cell_indices.push_back(idx);
    v.features.values.insert(v.features.values.end(), e.values.begin(), e.values.end());
    v.cell_stamp_ns.push_back(e.stamp_ns);
  }
  return v;
}

std::size_t PeerCellCache::cells(AgentId peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0 : it->second.cells.size();
}

std::vector<AgentId> PeerCellCache::peers() const {
  std::vector<AgentId> out;
  for (const auto& [id, p] : peers_) out.push_back(id);
  return out;
}

}  // namespace v2x::selection
