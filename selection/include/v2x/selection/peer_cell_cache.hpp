#pragma once
// Receiver side: per peer, the latest value of every cell the peer sent, so that cells a sender stops
// re-sending (static, already sent) stay available until they age out. Cells are kept in the peer's latest
// LiDAR frame: when a newer message arrives with another pose, cached cells are re-binned through the world
// frame into the new grid (nearest cell; on collision the newer cell wins).
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "v2x/core/config.hpp"
#include "v2x/core/sparse_features.hpp"

namespace v2x::selection {

struct PeerCacheConfig {
  double max_age_ms = 500.0;  // cells older than this (vs. the `now` given) are dropped
  template <class V>
  void visit(V& v) {
    v("max_age_ms", max_age_ms, Range{0, 3.6e6});
  }
};

class PeerCellCache {
 public:
  explicit PeerCellCache(PeerCacheConfig cfg = {});

  // Adds a decoded message. Returns false (and changes nothing) when it is older than the peer's latest one.
  // A message with another grid or channel count replaces the peer's cache.
  bool update(const SparseFeatures& msg);
  // Drops cells older than max_age_ms at now_ns, and peers left without cells.
  void expire(TimestampNs now_ns);

  struct View {
    SparseFeatures features;                  // the latest message's header + anchors, every fresh cell
    std::vector<TimestampNs> cell_stamp_ns;   // per cell (same order): when it was sent
  };
  // The peer's cells that are fresh at now_ns, in its latest frame; nullopt for an unknown peer.
  std::optional<View> view(AgentId peer, TimestampNs now_ns) const;
  std::size_t cells(AgentId peer) const;
  std::vector<AgentId> peers() const;

 private:
  struct Entry {
    TimestampNs stamp_ns;
    std::vector<float> values;  // (C,)
  };
  struct Peer {
    SparseFeatures latest;  // header, pose, grid, anchors (cells/values cleared)
    std::map<std::uint32_t, Entry> cells;
  };
  PeerCacheConfig cfg_;
  std::map<AgentId, Peer> peers_;
};

}  // namespace v2x::selection
