#pragma once
// `v2x_train --stage camera`: trains the camera branch (encoder/camera_net.hpp: image CNN lifted to the BEV
// feature grid + detection head, camera-only) on simulator frames with rendered surround cameras; validates with
// the OpenCOOD-protocol AP evaluator on held-out seeds; writes camera_weights.pt + camera_manifest.json to --out.
// With --fuse-lidar it trains the LiDAR+camera ModalityFusion instead (camera_fusion.hpp).
// Hooked into main.cpp by one dispatch line.
namespace v2x::train {

// True when argv holds "--stage camera" or "--stage=camera".
bool wants_camera_stage(int argc, const char* const* argv);
// Parses its own options. Exit codes: 0 done, 2 bad arguments, 3 --expect-loss-drop / --expect-no-worse failed.
int run_camera_stage(int argc, const char* const* argv);

}  // namespace v2x::train
