#pragma once
// Command-line conventions shared by every v2x binary: Boost.Program_options for parsing, `--help`,
// `-v/--verbose` and `--log-level`, and one clear line + exit code 2 on bad arguments or config.
#include <boost/program_options.hpp>

#include <functional>
#include <stdexcept>
#include <string>

namespace v2x::apps {

namespace po = boost::program_options;

// Thrown for a bad command line; main() prints "<prog>: <message>" and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Adds --help, --log-level to `desc`.
void add_common_options(po::options_description& desc);

// Parses argv against desc (positional args optional). Prints help and returns false when --help is given.
// Throws UsageError on unknown options or bad values. Applies --log-level to spdlog.
bool parse_command_line(int argc, const char* const* argv, const po::options_description& desc, po::variables_map& vm,
                        const std::string& usage_line, const po::positional_options_description* pos = nullptr);

// Runs body() and maps exceptions to exit codes: UsageError / ConfigError → 2 (one line on stderr),
// any other std::exception → 1. Returns body's exit code otherwise.
int run_main(const char* prog, const std::function<int()>& body);

}  // namespace v2x::apps
