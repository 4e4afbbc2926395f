#pragma once
// `v2x_train --stage fusion`: trains the anchor-centric fusion network (and the AttFuse module) on multi-agent
// simulator frames with the single-agent detector frozen; writes weights + manifest to --out.
// Hooked into main.cpp by one dispatch: `if (v2x::train::wants_fusion_stage(argc, argv)) return
// v2x::train::run_fusion_stage(argc, argv);`.
namespace v2x::train {

// True when argv holds "--stage fusion" or "--stage=fusion".
bool wants_fusion_stage(int argc, const char* const* argv);
// Parses its own options (all of argv, "--stage" included). Exit codes: 0 done, 2 bad arguments / setup error.
int run_fusion_stage(int argc, const char* const* argv);

}  // namespace v2x::train
