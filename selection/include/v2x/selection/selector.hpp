#pragma once
// Selection: which BEV cells (and which local anchors) a node sends this frame, under a HARD byte budget per
// message. The budget counts the encoded wire-v1 size through core's size model (encoded_size_upper_bound,
// an upper bound of what comm::encode produces), so a selection that fits here fits on the wire.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "v2x/core/config.hpp"
#include "v2x/core/feature_map.hpp"
#include "v2x/core/pose.hpp"
#include "v2x/core/sparse_features.hpp"

namespace v2x::selection {

struct BudgetConfig {
  int budget_bytes = 8192;                 // hard cap on the encoded message (unfragmented)
  Quantization quant = Quantization::Int8; // how values will be sent (sets the bytes per cell)
  int max_anchors = 32;                    // anchors sent at most (highest score first)
  double anchor_budget_fraction = 0.25;    // share of the budget anchors may take before cells

  template <class V>
  void visit(V& v) {
    v("budget_bytes", budget_bytes, Range{256, 1 << 26});
    v("quant", quant);
    v("max_anchors", max_anchors, Range{0, 4096});
    v("anchor_budget_fraction", anchor_budget_fraction, Range{0, 1});
  }
};

struct SelectionInput {
  SelectionInput(const FeatureMap* m, const Pose& T = Pose::Identity(), std::span<const SparseAnchor> a = {},
                 const std::vector<std::uint8_t>* req = nullptr)
      : map(m), T_world_lidar(T), anchors(a), request(req) {}
  const FeatureMap* map = nullptr;         // (C, H, W) float32 + confidence (H, W) in [0, 1] (may be empty)
  Pose T_world_lidar = Pose::Identity();   // the sender's pose as it believes it, at map->stamp_ns
  std::span<const SparseAnchor> anchors;   // candidate local anchors (detections with feature vectors)
  const std::vector<std::uint8_t>* request = nullptr;  // (H, W) ego request mask in this map's grid, or null
};

struct SelectionResult {
  std::vector<std::uint32_t> cells;  // chosen cells, strictly increasing (y * W + x)
  std::vector<std::size_t> anchors;  // indices into SelectionInput::anchors
  std::size_t bytes = 0;             // encoded_size_upper_bound of this selection; ≤ budget_bytes when fits
  std::size_t wanted = 0;            // cells the selector wanted before the budget cut
  bool fits = true;                  // false only when even an empty message exceeds the budget (then nothing is chosen)
};

class Selector {
 public:
  virtual ~Selector() = default;
  virtual SelectionResult select(const SelectionInput& in) = 0;
  virtual std::string name() const = 0;
  virtual void reset() {}  // forget temporal state (new scenario)
};

// Budget cut shared by every selector: anchors (by score, within max_anchors and the anchor share), then the
// longest prefix of `priority` (cells, most important first) whose encoded size bound fits the budget.
SelectionResult fit_budget(const FeatureMap& map, std::span<const SparseAnchor> anchors,
                           const std::vector<std::uint32_t>& priority, const BudgetConfig& budget);

// Builds the message content for a selection: values gathered cell-major (num_cells, C) from the (C, H, W) map.
SparseFeatures make_sparse_features(const FeatureMap& map, const SelectionResult& sel, const Pose& T_world_lidar,
                                    std::span<const SparseAnchor> anchors, std::uint32_t sequence,
                                    Quantization quant, std::uint8_t modality = kModalityLidar);

// Cell indices sorted by confidence, highest first (ties: lower index first); all cells when confidence is empty.
std::vector<std::uint32_t> cells_by_confidence(const FeatureMap& map);

// ---- baselines -------------------------------------------------------------------------------------------

// Every cell (highest confidence first when the budget cuts).
class SendAllSelector final : public Selector {
 public:
  explicit SendAllSelector(BudgetConfig b) : b_(b) { validate_config(b_); }
  SelectionResult select(const SelectionInput& in) override;
  std::string name() const override { return "send_all"; }

 private:
  BudgetConfig b_;
};

// Nothing: the message carries only its header (useful as the no-cooperation baseline).
class SendNothingSelector final : public Selector {
 public:
  explicit SendNothingSelector(BudgetConfig b) : b_(b) { validate_config(b_); }
  SelectionResult select(const SelectionInput& in) override;
  std::string name() const override { return "send_nothing"; }

 private:
  BudgetConfig b_;
};

struct TopKConfig {
  int k = 2048;                 // cells at most
  double min_confidence = 0.0;  // Where2comm's threshold: cells below it are never sent
  template <class V>
  void visit(V& v) {
    v("k", k, Range{0, 1 << 24});
    v("min_confidence", min_confidence, Range{0, 1});
  }
};
// Where2comm-style: the k most confident cells above a threshold.
class TopKSelector final : public Selector {
 public:
  TopKSelector(BudgetConfig b, TopKConfig c) : b_(b), c_(c) { validate_config(b_), validate_config(c_); }
  SelectionResult select(const SelectionInput& in) override;
  std::string name() const override { return "top_k"; }

 private:
  BudgetConfig b_;
  TopKConfig c_;
};

struct RandomKConfig {
  int k = 2048;
  std::uint64_t seed = 1;
  template <class V>
  void visit(V& v) {
    v("k", k, Range{0, 1 << 24});
    v("seed", seed);
  }
};
// k cells uniformly at random (a new seeded draw per frame: seed forked with the frame count).
class RandomKSelector final : public Selector {
 public:
  RandomKSelector(BudgetConfig b, RandomKConfig c) : b_(b), c_(c) { validate_config(b_), validate_config(c_); }
  SelectionResult select(const SelectionInput& in) override;
  std::string name() const override { return "random_k"; }
  void reset() override { frame_ = 0; }

 private:
  BudgetConfig b_;
  RandomKConfig c_;
  std::uint64_t frame_ = 0;
};

// ---- ego request map ------------------------------------------------------------------------------------

// Cells where the ego is unsure, in the ego's grid. Sent as an index-only SparseFeatures (channels = 0).
struct RequestMap {
  AgentId requester = 0;
  TimestampNs stamp_ns = 0;
  Pose T_world_lidar = Pose::Identity();
  BevGrid grid;
  int height = 0, width = 0;
  std::vector<std::uint8_t> mask;  // (H, W), 1 = requested
};

struct RequestConfig {
  double max_ego_confidence = 0.3;  // the ego requests cells where its own confidence is at most this
  bool fill_with_confidence = true; // sender: after the requested cells, fill the budget by its own confidence
  template <class V>
  void visit(V& v) {
    v("max_ego_confidence", max_ego_confidence, Range{0, 1});
    v("fill_with_confidence", fill_with_confidence);
  }
};

// The ego's request: cells whose confidence is ≤ max_ego_confidence (all cells when it has no confidence map).
RequestMap make_request_map(const FeatureMap& ego, const Pose& T_world_lidar_ego, double max_ego_confidence);
// The request expressed in a sender's grid (nearest cell, through the world frame).
std::vector<std::uint8_t> warp_request(const RequestMap& req, const Pose& T_world_lidar_sender,
                                       const BevGrid& sender_grid, int sender_height, int sender_width);
SparseFeatures request_to_sparse(const RequestMap& req, std::uint32_t sequence);
RequestMap request_from_sparse(const SparseFeatures& f);

// Sender side: requested cells first (by the sender's confidence), then, optionally, the rest by confidence.
class RequestSelector final : public Selector {
 public:
  RequestSelector(BudgetConfig b, RequestConfig c) : b_(b), c_(c) { validate_config(b_), validate_config(c_); }
  SelectionResult select(const SelectionInput& in) override;
  std::string name() const override { return "request"; }

 private:
  BudgetConfig b_;
  RequestConfig c_;
};

}  // namespace v2x::selection
