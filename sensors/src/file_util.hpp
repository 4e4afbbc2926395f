#pragma once
// Internal helpers shared by the readers and writers.
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace v2x::sensors::detail {

// Writes `bytes` to `file` atomically: a temporary sibling named ".<name>.tmp" is written, flushed and
// renamed over `file`. Throws std::runtime_error naming the file on failure.
void write_file_atomic(const std::filesystem::path& file, std::string_view bytes);
// Same, but the content is produced by `write_to(temp_path)` (for libraries that only write to a path).
void write_via_temp(const std::filesystem::path& file, const std::function<bool(const std::string&)>& write_to);
// Reads a whole file; false if it cannot be opened/read.
bool read_file(const std::filesystem::path& file, std::string& out);
// "%.17g": the shortest printf form that parses back to the same double.
std::string fmt_double(double v);

}  // namespace v2x::sensors::detail
