#include <gtest/gtest.h>

#include <filesystem>

#include "v2x/apps/config_registry.hpp"
#include "v2x/core/config.hpp"

// Every YAML file under config/ must load and validate as the struct its folder names.
TEST(ConfigFiles, EveryFileUnderConfigLoadsAndValidates) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator("config")) {
    if (!e.is_regular_file() || e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    EXPECT_NO_THROW(v2x::apps::validate_config_file(e.path().string()));
    ++n;
  }
  if (v2x::apps::config_kinds().empty()) GTEST_SKIP() << "no config kinds registered yet";
  EXPECT_GT(n, 0) << "no config files found (run from the repository root)";
}
