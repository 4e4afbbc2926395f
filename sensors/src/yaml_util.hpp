#pragma once
// Typed access to dataset YAML with errors that name the file and the field ("vehicles/4306/extent").
#include <yaml-cpp/yaml.h>

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "v2x/core/expected.hpp"

namespace v2x::sensors::detail {

class YamlDoc {
 public:
  // Errors: Missing (no file), Corrupt (does not parse; the message carries yaml-cpp's line/column).
  static Expected<YamlDoc> load(const std::filesystem::path& file);
  const YAML::Node& root() const { return root_; }
  const std::filesystem::path& file() const { return file_; }

  Error error(ErrorCode code, const std::string& field, const std::string& what) const {
    return make_error(code, file_.string() + ": field '" + field + "': " + what);
  }
  // A number; nullopt + err set on failure.
  bool number(const YAML::Node& n, const std::string& field, double& out, std::optional<Error>& err) const;
  // A list of exactly `count` numbers.
  bool numbers(const YAML::Node& n, const std::string& field, std::size_t count, std::vector<double>& out,
               std::optional<Error>& err) const;
  // A rows × cols matrix as a list of lists.
  bool matrix(const YAML::Node& n, const std::string& field, int rows, int cols, std::vector<double>& out,
              std::optional<Error>& err) const;

 private:
  std::filesystem::path file_;
  YAML::Node root_;
};

}  // namespace v2x::sensors::detail
