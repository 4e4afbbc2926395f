#include "v2x/encoder/manifest.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace v2x::encoder {
namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

class JsonReader {
 public:
  JsonReader(const nlohmann::json& node, std::string file, std::string prefix)
      : node_(node), file_(std::move(file)), prefix_(std::move(prefix)) {}
  template <class T>
  void operator()(std::string_view key, T& value, Range r = {}) {
    seen_.emplace_back(key);
    const std::string k(key);
    if (!node_.contains(k) || node_[k].is_null()) return;
    parse(node_[k], value, prefix_ + k, r);
  }
  void reject_unknown() const {
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      bool known = false;
      for (const auto& s : seen_) known = known || s == it.key();
      if (!known) throw ConfigError(file_, prefix_ + it.key(), "unknown key");
    }
  }

 private:
  template <class T>
  void parse(const nlohmann::json& n, T& v, const std::string& path, Range r) {
    if constexpr (std::is_same_v<T, bool>) {
      if (!n.is_boolean()) throw ConfigError(file_, path, "expected a boolean");
      v = n.get<bool>();
    } else if constexpr (std::is_arithmetic_v<T>) {
      if (!n.is_number()) throw ConfigError(file_, path, "expected a number");
      if constexpr (std::is_integral_v<T>) {
        if (!n.is_number_integer()) throw ConfigError(file_, path, "expected an integer");
      }
      v = n.get<T>();
      RangeValidator{file_}(path, v, r);
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!n.is_string()) throw ConfigError(file_, path, "expected a string");
      v = n.get<std::string>();
    } else if constexpr (std::is_enum_v<T>) {
      if (!n.is_string()) throw ConfigError(file_, path, "expected a string");
      const auto s = n.get<std::string>();
      const auto& names = EnumNames<T>::names;
      for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == s) {
          v = static_cast<T>(i);
          return;
        }
      throw ConfigError(file_, path, "unknown value '" + s + "'");
    } else if constexpr (config_detail::is_vector<T>::value) {
      if (!n.is_array()) throw ConfigError(file_, path, "expected a list");
      v.clear();
      for (std::size_t i = 0; i < n.size(); ++i) {
        typename T::value_type item{};
        parse(n[i], item, path + "[" + std::to_string(i) + "]", r);
        v.push_back(std::move(item));
      }
    } else if constexpr (config_detail::is_std_array<T>::value) {
      if (!n.is_array() || n.size() != v.size()) throw ConfigError(file_, path, "expected a list of fixed size");
      for (std::size_t i = 0; i < v.size(); ++i) parse(n[i], v[i], path + "[" + std::to_string(i) + "]", r);
    } else {
      if (!n.is_object()) throw ConfigError(file_, path, "expected an object");
      JsonReader sub(n, file_, path + ".");
      v.visit(sub);
      sub.reject_unknown();
    }
  }
  const nlohmann::json& node_;
  std::string file_, prefix_;
  std::vector<std::string> seen_;
};

void diff(const ojson& a, const ojson& b, const std::string& path, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it)
      diff(it.value(), b.contains(it.key()) ? b[it.key()] : ojson(), path + (path.empty() ? "" : ".") + it.key(), out);
    return;
  }
  bool same = a == b;
  if (!same && a.is_number() && b.is_number()) same = std::abs(a.get<double>() - b.get<double>()) < 1e-9;
  if (!same && a.is_array() && b.is_array() && a.size() == b.size()) {
    same = true;
    for (std::size_t i = 0; i < a.size() && same; ++i) {
      std::vector<std::string> sub;
      diff(a[i], b[i], path, sub);
      same = sub.empty();
    }
  }
  if (!same) out.push_back(path + ": " + a.dump() + " (manifest) vs " + b.dump() + " (runtime)");
}

ojson architecture_json(const DetectorConfig& c) {
  DetectorConfig x = c;
  ojson o = ojson::object();
  ojson p = config_to_json(x.pillars);
  p.erase("max_pillars");  // a runtime limit, not part of what the weights mean
  o["pillars"] = p;
  o["net"] = config_to_json(x.net);
  o["anchors"] = config_to_json(x.anchors);
  o["coder"] = config_to_json(x.coder);
  return o;
}

}  // namespace

ojson detector_config_to_json(const DetectorConfig& cfg) {
  DetectorConfig c = cfg;
  return config_to_json(c);
}

namespace {
template <class Cfg>
Cfg config_from_json(const nlohmann::json& j, const std::string& file, const std::string& key) {
  Cfg c;
  if (!j.is_object()) throw ConfigError(file, key, "expected an object");
  JsonReader r(j, file, key + ".");
  c.visit(r);
  r.reject_unknown();
  validate_config(c, file);
  return c;
}
}  // namespace

DetectorConfig detector_config_from_json(const nlohmann::json& j, const std::string& file) {
  return config_from_json<DetectorConfig>(j, file, "config");
}

CameraBranchConfig camera_config_from_json(const nlohmann::json& j, const std::string& file) {
  return config_from_json<CameraBranchConfig>(j, file, "camera");
}

std::vector<std::string> architecture_differences(const DetectorConfig& manifest, const DetectorConfig& runtime) {
  std::vector<std::string> out;
  diff(architecture_json(manifest), architecture_json(runtime), "", out);
  return out;
}

ModelManifest read_manifest(const std::string& path) {
  fs::path p(path);
  if (fs::is_directory(p)) p /= kManifestFile;
  std::ifstream in(p);
  if (!in) throw std::runtime_error(p.string() + ": cannot open model manifest");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw std::runtime_error(p.string() + ": malformed JSON: " + e.what());
  }
  ModelManifest m;
  m.dir = p.parent_path().string();
  if (m.dir.empty()) m.dir = ".";
  const std::string file = p.string();
  try {
    if (!j.is_object() || !j.contains("config")) throw ConfigError(file, "config", "missing");
    if (j.value("version", 0) != kManifestVersion)
      throw ConfigError(file, "version", "unsupported manifest version " + j.value("version", nlohmann::json()).dump());
    m.name = j.value("name", std::string());
    m.weights_file = j.value("weights", std::string("weights.pt"));
    m.git_commit = j.value("git_commit", std::string());
    m.created_utc = j.value("created_utc", std::string());
    m.config = detector_config_from_json(j["config"], file);
    if (j.contains("training")) m.training = j["training"];
    if (j.contains("metrics")) m.metrics = j["metrics"];
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(file + ": malformed manifest: " + e.what());
  }
  return m;
}

void write_manifest(const ModelManifest& m, const std::string& dir) {
  fs::create_directories(dir);
  ojson j = ojson::object();
  j["version"] = kManifestVersion;
  j["name"] = m.name;
  j["weights"] = m.weights_file;
  j["git_commit"] = m.git_commit;
  j["created_utc"] = m.created_utc;
  j["config"] = detector_config_to_json(m.config);
  j["training"] = m.training;
  j["metrics"] = m.metrics;
  const fs::path p = fs::path(dir) / kManifestFile;
  const fs::path tmp = fs::path(dir) / (std::string(kManifestFile) + ".tmp");
  {
    std::ofstream out(tmp);
    if (!out) throw std::runtime_error(tmp.string() + ": cannot write model manifest");
    out << j.dump(2) << "\n";
    if (!out) throw std::runtime_error(tmp.string() + ": write failed");
  }
  fs::rename(tmp, p);
}

}  // namespace v2x::encoder
