#include "v2x/fusion/model_io.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace v2x::fusion {

namespace fs = std::filesystem;

nlohmann::json fusion_architecture(const AnchorFusionConfig& c, int channels, const BevGrid& g) {
  return nlohmann::json{{"channels", channels},
                        {"grid", {g.x_min_m, g.x_max_m, g.y_min_m, g.y_max_m, g.cell_m}},
                        {"dim", c.dim},
                        {"heads", c.heads},
                        {"layers", c.layers},
                        {"ffn_dim", c.ffn_dim},
                        {"anchor_keys", c.anchor_keys},
                        {"anchor_key_radius_m", c.anchor_key_radius_m},
                        {"pattern_scale", c.pattern_scale},
                        {"pattern_min_half_m", c.pattern_min_half_m},
                        {"key_meta", kKeyMeta},
                        {"pattern_keys", kPatternKeys}};
}

nlohmann::json read_manifest(const std::string& dir) {
  const fs::path p = fs::path(dir) / kManifestFile;
  std::ifstream f(p);
  if (!f) throw std::runtime_error(p.string() + ": fusion model manifest not found");
  try {
    return nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    throw std::runtime_error(p.string() + ": cannot parse manifest (" + e.what() + ")");
  }
}

void check_architecture(const nlohmann::json& manifest, const nlohmann::json& expected, const std::string& dir) {
  const std::string file = (fs::path(dir) / kManifestFile).string();
  if (!manifest.contains("architecture")) throw std::runtime_error(file + ": no 'architecture' entry");
  const auto& a = manifest["architecture"];
  std::string diff;
  for (auto it = expected.begin(); it != expected.end(); ++it) {
    const bool same = a.contains(it.key()) &&
                      (a[it.key()] == it.value() ||
                       (a[it.key()].is_number() && it.value().is_number() &&
                        std::abs(a[it.key()].get<double>() - it.value().get<double>()) < 1e-9));
    if (!same)
      diff += (diff.empty() ? "" : "; ") + it.key() + ": weights " + (a.contains(it.key()) ? a[it.key()].dump() : "absent") +
              ", config " + it.value().dump();
  }
  if (!diff.empty()) throw std::runtime_error(file + ": fusion weights do not match the configuration (" + diff + ")");
}

namespace {
template <class M>
void load_module(M& m, const fs::path& p) {
  if (!fs::exists(p)) throw std::runtime_error(p.string() + ": fusion weights not found");
  try {
    torch::load(m, p.string());
  } catch (const c10::Error& e) {
    throw std::runtime_error(p.string() + ": cannot load fusion weights (" + e.what_without_backtrace() + ")");
  }
  m->eval();
}
}  // namespace

AnchorFusionNet load_anchor_fusion(const std::string& dir, const AnchorFusionConfig& cfg, int channels,
                                   const BevGrid& grid) {
  check_architecture(read_manifest(dir), fusion_architecture(cfg, channels, grid), dir);
  AnchorFusionNet net(cfg, channels);
  load_module(net, fs::path(dir) / kAnchorWeightsFile);
  return net;
}

AttnFusion load_attn_fusion(const std::string& dir, const AnchorFusionConfig& cfg, int channels, const BevGrid& grid) {
  check_architecture(read_manifest(dir), fusion_architecture(cfg, channels, grid), dir);
  AttnFusion net(channels);
  load_module(net, fs::path(dir) / kAttnWeightsFile);
  return net;
}

void save_fusion_model(const std::string& dir, AnchorFusionNet& anchor, AttnFusion* attn, const AnchorFusionConfig& cfg,
                       int channels, const BevGrid& grid, nlohmann::json manifest) {
  fs::create_directories(dir);
  torch::save(anchor, (fs::path(dir) / kAnchorWeightsFile).string());
  if (attn != nullptr) torch::save(*attn, (fs::path(dir) / kAttnWeightsFile).string());
  manifest["architecture"] = fusion_architecture(cfg, channels, grid);
  manifest["files"] = {{"anchor", kAnchorWeightsFile}};
  if (attn != nullptr) manifest["files"]["attn"] = kAttnWeightsFile;
  const fs::path tmp = fs::path(dir) / (std::string(kManifestFile) + ".tmp");
  {
    std::ofstream f(tmp);
    if (!f) throw std::runtime_error(tmp.string() + ": cannot write manifest");
    f << manifest.dump(2) << "\n";
  }
  fs::rename(tmp, fs::path(dir) / kManifestFile);
}

}  // namespace v2x::fusion
