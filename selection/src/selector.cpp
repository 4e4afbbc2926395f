#include "v2x/selection/selector.hpp"

#include <algorithm>
#include <cassert>
#include <numeric>

#include "v2x/core/rng.hpp"

namespace v2x::selection {

SelectionResult fit_budget(const FeatureMap& map, std::span<const SparseAnchor> anchors,
                           const std::vector<std::uint32_t>& priority, const BudgetConfig& b) {
  SelectionResult r;
  r.wanted = priority.size();
  const std::int64_t grid_cells = static_cast<std::int64_t>(map.height) * map.width;
  const int dim = anchors.empty() ? 0 : static_cast<int>(anchors.front().feature.size());
  const auto bound = [&](std::size_t n, std::size_t na) {
    return encoded_size_upper_bound(n, map.channels, b.quant, grid_cells, na, dim);
  };
  const std::size_t budget = static_cast<std::size_t>(b.budget_bytes);
  r.bytes = bound(0, 0);
  if (r.bytes > budget) {
    r.fits = false;
    return r;
  }
  // Anchors: highest score first, within max_anchors and their share of the budget beyond the empty message.
  std::vector<std::size_t> order(anchors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return anchors[x].score > anchors[y].score; });
  const double anchor_cap = static_cast<double>(r.bytes) + b.anchor_budget_fraction * static_cast<double>(budget - r.bytes);
  std::size_t na = 0;
  while (na < order.size() && na < static_cast<std::size_t>(b.max_anchors) &&
         anchors[order[na]].feature.size() == static_cast<std::size_t>(dim) &&
         static_cast<double>(bound(0, na + 1)) <= anchor_cap)
    ++na;
  r.anchors.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(na));
  std::sort(r.anchors.begin(), r.anchors.end());
  // Cells: the longest prefix of `priority` that fits (the bound is monotone in the number of cells).
  std::size_t lo = 0, hi = priority.size();
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo + 1) / 2;
    if (bound(mid, na) <= budget) lo = mid;
    else hi = mid - 1;
  }
  r.cells.assign(priority.begin(), priority.begin() + static_cast<std::ptrdiff_t>(lo));
  std::sort(r.cells.begin(), r.cells.end());
  assert(std::adjacent_find(r.cells.begin(), r.cells.end()) == r.cells.end());
  r.bytes = bound(lo, na);
  return r;
}

SparseFeatures make_sparse_features(const FeatureMap& map, const SelectionResult& sel, const Pose& T_world_lidar,
                                    std::span<const SparseAnchor> anchors, std::uint32_t sequence,
                                    Quantization quant, std::uint8_t modality) {
  SparseFeatures f;
  f.sender = map.agent;
  f.stamp_ns = map.stamp_ns;
  f.sequence = sequence;
  f.T_world_lidar = T_world_lidar;
  f.grid = map.grid;
  f.channels = map.channels;
  f.quant = quant;
  f.modality = modality;
  f.cell_indices = sel.cells;
  const std::size_t C = static_cast<std::size_t>(map.channels), HW = map.cells();
  f.values.resize(sel.cells.size() * C);
  for (std::size_t i = 0; i < sel.cells.size(); ++i)
    for (std::size_t c = 0; c < C; ++c) f.values[i * C + c] = map.data[c * HW + sel.cells[i]];
  for (std::size_t a : sel.anchors) f.anchors.push_back(anchors[a]);
  return f;
}

std::vector<std::uint32_t> cells_by_confidence(const FeatureMap& map) {
  std::vector<std::uint32_t> idx(map.cells());
  std::iota(idx.begin(), idx.end(), 0u);
  if (map.confidence.size() == map.cells())
    std::stable_sort(idx.begin(), idx.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return map.confidence[a] > map.confidence[b]; });
  return idx;
}

SelectionResult SendAllSelector::select(const SelectionInput& in) {
  return fit_budget(*in.map, in.anchors, cells_by_confidence(*in.map), b_);
}

SelectionResult SendNothingSelector::select(const SelectionInput& in) { return fit_budget(*in.map, {}, {}, b_); }

SelectionResult TopKSelector::select(const SelectionInput& in) {
  auto idx = cells_by_confidence(*in.map);
  const auto& conf = in.map->confidence;
  if (conf.size() == in.map->cells())
    std::erase_if(idx, [&](std::uint32_t i) { return conf[i] < c_.min_confidence; });
  if (idx.size() > static_cast<std::size_t>(c_.k)) idx.resize(static_cast<std::size_t>(c_.k));
  return fit_budget(*in.map, in.anchors, idx, b_);
}

SelectionResult RandomKSelector::select(const SelectionInput& in) {
  Rng rng = Rng(c_.seed).fork(frame_++);
  std::vector<std::uint32_t> idx(in.map->cells());
  std::iota(idx.begin(), idx.end(), 0u);
  // Partial Fisher–Yates with our own Rng (std::shuffle's algorithm differs between standard libraries).
  const std::size_t k = std::min(idx.size(), static_cast<std::size_t>(c_.k));
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(rng.next_u64() % (idx.size() - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(k);
  return fit_budget(*in.map, in.anchors, idx, b_);
}

// ---- requests ----------------------------------------------------------------------------------------------

RequestMap make_request_map(const FeatureMap& ego, const Pose& T_world_lidar_ego, double max_ego_confidence) {
  RequestMap r;
  r.requester = ego.agent;
  r.stamp_ns = ego.stamp_ns;
  r.T_world_lidar = T_world_lidar_ego;
  r.grid = ego.grid;
  r.height = ego.height;
  r.width = ego.width;
  r.mask.assign(ego.cells(), 1);
  if (ego.confidence.size() == ego.cells())
    for (std::size_t i = 0; i < ego.cells(); ++i) r.mask[i] = ego.confidence[i] <= max_ego_confidence ? 1 : 0;
  return r;
}

std::vector<std::uint8_t> warp_request(const RequestMap& req, const Pose& T_world_lidar_sender,
                                       const BevGrid& g, int h, int w) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(h) * w, 0);
  const Pose T_req_sender = req.T_world_lidar.inverse() * T_world_lidar_sender;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const Eigen::Vector3d p = T_req_sender * Eigen::Vector3d(g.cell_center_x(x), g.cell_center_y(y), 0.0);
      const auto c = req.grid.cell_of(p.x(), p.y());
      if (c && c->first < req.width && c->second < req.height &&
          req.mask[static_cast<std::size_t>(c->second) * req.width + c->first])
        out[static_cast<std::size_t>(y) * w + x] = 1;
    }
  return out;
}

SparseFeatures request_to_sparse(const RequestMap& req, std::uint32_t sequence) {
  SparseFeatures f;
  f.sender = req.requester;
  f.stamp_ns = req.stamp_ns;
  f.sequence = sequence;
  f.T_world_lidar = req.T_world_lidar;
  f.grid = req.grid;
  f.channels = 0;
  for (std::size_t i = 0; i < req.mask.size(); ++i)
    if (req.mask[i]) f.cell_indices.push_back(static_cast<std::uint32_t>(i));
  return f;
}

RequestMap request_from_sparse(const SparseFeatures& f) {
  RequestMap r;
  r.requester = f.sender;
  r.stamp_ns = f.stamp_ns;
  r.T_world_lidar = f.T_world_lidar;
  r.grid = f.grid;
  r.height = f.grid.height();
  r.width = f.grid.width();
  r.mask.assign(static_cast<std::size_t>(r.height) * r.width, 0);
  for (auto i : f.cell_indices)
    if (i < r.mask.size()) r.mask[i] = 1;
  return r;
}

SelectionResult RequestSelector::select(const SelectionInput& in) {
  auto idx = cells_by_confidence(*in.map);
  if (in.request && in.request->size() == in.map->cells()) {
    const auto& req = *in.request;
    std::stable_partition(idx.begin(), idx.end(), [&](std::uint32_t i) { return req[i] != 0; });
    if (!c_.fill_with_confidence)
      idx.resize(static_cast<std::size_t>(std::count_if(req.begin(), req.end(), [](std::uint8_t m) { return m != 0; })));
  } else if (!c_.fill_with_confidence) {
    idx.clear();  // no request received: nothing requested
  }
  return fit_budget(*in.map, in.anchors, idx, b_);
}

}  // namespace v2x::selection
