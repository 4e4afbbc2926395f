#pragma once
// Fusion weights on disk: data/models/<name>/ holds
//   anchor_fusion.pt  — torch::save of AnchorFusionNet
//   attn_fusion.pt    — torch::save of AttnFusion (optional)
//   manifest.json     — {"architecture": {...}, "training": {...}, "metrics": {...}, "git_commit": ..., ...}
// The runtime refuses weights whose manifest "architecture" differs from what its FusionConfig and detector
// would build (the message names every differing key).
#include <string>

#include <nlohmann/json.hpp>

#include "v2x/core/grid.hpp"
#include "v2x/fusion/anchor_fusion.hpp"
#include "v2x/fusion/config.hpp"
#include "v2x/fusion/dense_fusion.hpp"

namespace v2x::fusion {

inline constexpr const char* kAnchorWeightsFile = "anchor_fusion.pt";
inline constexpr const char* kAttnWeightsFile = "attn_fusion.pt";
inline constexpr const char* kManifestFile = "manifest.json";

// The fields that shape the weights or what they were trained to read (channels and grid of the detector's map,
// the network sizes, the key pattern). merge/max_queries/max_peers/score limits stay tunable at runtime.
nlohmann::json fusion_architecture(const AnchorFusionConfig& cfg, int channels, const BevGrid& grid);

// Reads <dir>/manifest.json; throws std::runtime_error naming the file when missing or unparsable.
nlohmann::json read_manifest(const std::string& dir);
// Throws std::runtime_error naming the manifest and every differing key when manifest["architecture"] != expected.
void check_architecture(const nlohmann::json& manifest, const nlohmann::json& expected, const std::string& dir);

AnchorFusionNet load_anchor_fusion(const std::string& dir, const AnchorFusionConfig& cfg, int channels,
                                   const BevGrid& grid);
AttnFusion load_attn_fusion(const std::string& dir, const AnchorFusionConfig& cfg, int channels, const BevGrid& grid);

// Writes the weights (attn may be null) and the manifest; manifest["architecture"] is filled in here.
void save_fusion_model(const std::string& dir, AnchorFusionNet& anchor, AttnFusion* attn, const AnchorFusionConfig& cfg,
                       int channels, const BevGrid& grid, nlohmann::json manifest);

}  // namespace v2x::fusion
