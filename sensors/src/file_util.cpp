#include "file_util.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace v2x::sensors::detail {

namespace fs = std::filesystem;

static fs::path temp_sibling(const fs::path& file) {
  return file.parent_path() / ("." + file.filename().string() + ".tmp");
}

static void rename_into_place(const fs::path& tmp, const fs::path& file) {
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error(file.string() + ": cannot rename temporary file into place");
  }
}

void write_file_atomic(const fs::path& file, std::string_view bytes) {
  const fs::path tmp = temp_sibling(file);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(file.string() + ": cannot open for writing");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error(file.string() + ": write failed");
  }
  rename_into_place(tmp, file);
}

void write_via_temp(const fs::path& file, const std::function<bool(const std::string&)>& write_to) {
  const fs::path tmp = temp_sibling(file);
  if (!write_to(tmp.string())) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw std::runtime_error(file.string() + ": write failed");
  }
  rename_into_place(tmp, file);
}

bool read_file(const fs::path& file, std::string& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return false;
  out = std::move(ss).str();
  return true;
}

std::string fmt_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace v2x::sensors::detail
