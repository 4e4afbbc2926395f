#pragma once
#include <string>
#include <vector>

namespace v2x::apps {

// Config kinds: the folder under config/ says which struct a YAML file holds (config/sim/*.yaml → SimConfig,
// ...). Loads and validates `file` as that struct; throws ConfigError naming the file and key.
void validate_config_file(const std::string& file);
// The folder names validate_config_file understands.
std::vector<std::string> config_kinds();

}  // namespace v2x::apps
