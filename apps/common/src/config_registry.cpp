#include "v2x/apps/config_registry.hpp"

#include <filesystem>
#include <functional>
#include <map>

#include "v2x/apps/config_yaml.hpp"
#include "v2x/apps/live_node_config.hpp"
#include "v2x/apps/node_config.hpp"
#include "v2x/sim/config.hpp"

namespace v2x::apps {
namespace {

// folder under config/ → loader. Each module that owns a config kind adds one line here.
const std::map<std::string, std::function<void(const std::string&)>>& registry() {
  static const std::map<std::string, std::function<void(const std::string&)>> r = {
      {"node", [](const std::string& f) { load_config<LiveNodeConfig>(f); }},  // v2x_node (superset of NodeConfig)
      {"replay", [](const std::string& f) { load_config<ReplayConfig>(f); }},
      {"sim", [](const std::string& f) { load_config<sim::SimConfig>(f); }},
  };
  return r;
}

}  // namespace

void validate_config_file(const std::string& file) {
  const std::string kind = std::filesystem::path(file).parent_path().filename().string();
  const auto& r = registry();
  auto it = r.find(kind);
  if (it == r.end()) throw ConfigError(file, "", "no config kind for folder '" + kind + "'");
  it->second(file);
}

std::vector<std::string> config_kinds() {
  std::vector<std::string> out;
  for (const auto& [k, v] : registry()) out.push_back(k);
  return out;
}

}  // namespace v2x::apps
