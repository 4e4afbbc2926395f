#pragma once
// `v2x_train --stage camera --fuse-lidar`: trains the LiDAR+camera ModalityFusion (encoder/camera_net.hpp) of a
// LiDAR+camera agent. The LiDAR DetectorNet (--lidar-model) and the CameraDetectorNet (--camera-model) are frozen;
// their BEV maps are fused by the 1×1 conv (initialised as the identity on the LiDAR channels) and the LiDAR
// model's own head, frozen too, is trained against on the fused map (gradients reach only the fusion), so the
// fused map stays in the LiDAR feature space that peers and the LiDAR head expect. Validation (held-out seeds, ego
// view) reports LiDAR-only and LiDAR+camera AP on the same frames, before and after training. Writes to --out a
// camera model folder: the camera weights (copied), fusion.pt and camera_manifest.json with has_fusion true.
#include <string>

#include "args.hpp"
#include "camera_common.hpp"

namespace v2x::train {

// args: the camera stage's parsed options (camera_stage.cpp). Exit codes: 0 done, 3 --expect-no-worse failed;
// bad or inconsistent options / model folders throw ArgError.
int run_camera_fusion(const Args& args, const std::string& out, camstage::StageLog& log);

}  // namespace v2x::train
