#pragma once
// Model manifest (data/models/<name>/manifest.json): architecture and grid (the whole DetectorConfig), training
// config, data seeds, git commit and the metrics measured at export, next to the weights file.
// A runtime refuses weights whose manifest's architecture differs from its own DetectorConfig.
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "v2x/encoder/camera_config.hpp"
#include "v2x/encoder/config.hpp"

namespace v2x::encoder {

inline constexpr const char* kManifestFile = "manifest.json";
inline constexpr int kManifestVersion = 1;

struct ModelManifest {
  std::string name;
  std::string weights_file = "weights.pt";  // relative to the manifest's folder
  DetectorConfig config;
  nlohmann::ordered_json training = nlohmann::ordered_json::object();  // trainer config, data seeds, timings
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();   // measured at export
  std::string git_commit;
  std::string created_utc;
  std::string dir;  // folder the manifest was read from (not written)

  std::string weights_path() const { return dir.empty() ? weights_file : dir + "/" + weights_file; }
};

namespace manifest_detail {
class JsonWriter {
 public:
  explicit JsonWriter(nlohmann::ordered_json& out) : out_(out) {}
  template <class T>
  void operator()(std::string_view key, T& value, Range = {}) {
    out_[std::string(key)] = to(value);
  }

 private:
  template <class T>
  static nlohmann::ordered_json to(T& v) {
    if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
      return nlohmann::ordered_json(v);
    } else if constexpr (std::is_enum_v<T>) {
      return nlohmann::ordered_json(std::string(enum_name(v)));
    } else if constexpr (config_detail::is_vector<T>::value || config_detail::is_std_array<T>::value) {
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (auto& x : v) a.push_back(to(x));
      return a;
    } else {
      nlohmann::ordered_json o = nlohmann::ordered_json::object();
      JsonWriter w(o);
      v.visit(w);
      return o;
    }
  }
  nlohmann::ordered_json& out_;
};

}  // namespace manifest_detail

// Any config struct with `visit` → JSON (same keys as YAML).
template <class Cfg>
nlohmann::ordered_json config_to_json(Cfg& cfg) {
  nlohmann::ordered_json o = nlohmann::ordered_json::object();
  manifest_detail::JsonWriter w(o);
  cfg.visit(w);
  return o;
}
// JSON → DetectorConfig: keys absent keep the default; unknown keys and wrong types throw ConfigError naming
// `file` and the dotted key.
DetectorConfig detector_config_from_json(const nlohmann::json& j, const std::string& file);
nlohmann::ordered_json detector_config_to_json(const DetectorConfig& cfg);
// JSON → CameraBranchConfig (a camera manifest's "camera" block), same rules.
CameraBranchConfig camera_config_from_json(const nlohmann::json& j, const std::string& file);

// The architecture part of a config (what the weights' shapes and meaning depend on): pillar grid and
// point features, network shape, anchors, direction bins. One line per differing key: "net.out_channels: 64 vs 32".
std::vector<std::string> architecture_differences(const DetectorConfig& manifest, const DetectorConfig& runtime);

// Reads `<path>/manifest.json` (path = a model folder) or `path` itself (a .json file).
// Throws std::runtime_error naming the file when absent or malformed.
ModelManifest read_manifest(const std::string& path);
// Writes `<dir>/manifest.json`; throws std::runtime_error naming the file on failure.
void write_manifest(const ModelManifest& m, const std::string& dir);

}  // namespace v2x::encoder
