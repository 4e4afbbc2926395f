#include "v2x/apps/config_yaml.hpp"

#include <filesystem>

namespace v2x::apps {

YAML::Node load_yaml_file(const std::string& file) {
  if (!std::filesystem::exists(file)) throw ConfigError(file, "", "file not found");
  try {
    return YAML::LoadFile(file);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file, "", "YAML syntax error at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    throw ConfigError(file, "", std::string("cannot read: ") + e.what());
  }
}

}  // namespace v2x::apps
