#include "yaml_util.hpp"

#include <cmath>

namespace v2x::sensors::detail {

Expected<YamlDoc> YamlDoc::load(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return make_error(ErrorCode::Missing, file.string() + ": no such file");
  YamlDoc d;
  d.file_ = file;
  try {
    d.root_ = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::Corrupt, file.string() + ": malformed YAML at line " + std::to_string(e.mark.line + 1) +
                                              ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!d.root_.IsMap()) return make_error(ErrorCode::Corrupt, file.string() + ": top level is not a mapping");
  return d;
}

bool YamlDoc::number(const YAML::Node& n, const std::string& field, double& out, std::optional<Error>& err) const {
  if (!n || !n.IsScalar()) {
    err = error(n ? ErrorCode::Corrupt : ErrorCode::Missing, field, n ? "expected a number" : "missing");
    return false;
  }
  try {
    out = n.as<double>();
  } catch (const YAML::Exception&) {
    err = error(ErrorCode::Corrupt, field, "expected a number, got '" + n.Scalar() + "'");
    return false;
  }
  if (!std::isfinite(out)) {
    err = error(ErrorCode::Corrupt, field, "not a finite number");
    return false;
  }
  return true;
}

bool YamlDoc::numbers(const YAML::Node& n, const std::string& field, std::size_t count, std::vector<double>& out,
                      std::optional<Error>& err) const {
  if (!n) {
    err = error(ErrorCode::Missing, field, "missing");
    return false;
  }
  if (!n.IsSequence() || n.size() != count) {
    err = error(ErrorCode::Corrupt, field, "expected a list of " + std::to_string(count) + " numbers");
    return false;
  }
  out.resize(count);
  for (std::size_t i = 0; i < count; ++i)
    if (!number(n[i], field + "[" + std::to_string(i) + "]", out[i], err)) return false;
  return true;
}

bool YamlDoc::matrix(const YAML::Node& n, const std::string& field, int rows, int cols, std::vector<double>& out,
                     std::optional<Error>& err) const {
  if (!n) {
    err = error(ErrorCode::Missing, field, "missing");
    return false;
  }
  if (!n.IsSequence() || n.size() != static_cast<std::size_t>(rows)) {
    err = error(ErrorCode::Corrupt, field, "expected a " + std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
    return false;
  }
  out.clear();
  for (int r = 0; r < rows; ++r) {
    std::vector<double> row;
    if (!numbers(n[r], field + "[" + std::to_string(r) + "]", static_cast<std::size_t>(cols), row, err)) return false;
    out.insert(out.end(), row.begin(), row.end());
  }
  return true;
}

}  // namespace v2x::sensors::detail
