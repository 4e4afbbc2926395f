#include "v2x/apps/cli.hpp"

#include <spdlog/spdlog.h>

#include <iostream>

#include "v2x/core/config.hpp"

namespace v2x::apps {

void add_common_options(po::options_description& desc) {
  desc.add_options()("help,h", "show this help and exit")(
      "log-level", po::value<std::string>()->default_value("info"), "trace|debug|info|warn|error|off");
}

bool parse_command_line(int argc, const char* const* argv, const po::options_description& desc, po::variables_map& vm,
                        const std::string& usage_line, const po::positional_options_description* pos) {
  try {
    auto parser = po::command_line_parser(argc, argv).options(desc);
    if (pos) parser.positional(*pos);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
      std::cout << usage_line << "\n\n" << desc << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see --help)");
  }
  if (vm.count("log-level")) {
    const auto level = spdlog::level::from_str(vm["log-level"].as<std::string>());
    if (level == spdlog::level::off && vm["log-level"].as<std::string>() != "off")
      throw UsageError("--log-level: unknown level '" + vm["log-level"].as<std::string>() + "'");
    spdlog::set_level(level);
  }
  return true;
}

int run_main(const char* prog, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::cerr << prog << ": " << e.what() << "\n";
    return 2;
  } catch (const ConfigError& e) {
    std::cerr << prog << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << prog << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace v2x::apps
