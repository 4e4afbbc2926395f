#pragma once
// v2x_sim run: the simulator driving live v2x_node processes (run.cpp, docs/nodes.md).
namespace v2x::simrun {
int run_command(int argc, const char* const* argv);
}  // namespace v2x::simrun
