#pragma once
// Camera → BEV geometry and input checks of the camera branch, without LibTorch (shared by the runtime encoder,
// the trainer and the tests).
//
// Lifting: every BEV cell centre (x, y) of the feature grid, at each sample height z (agent's LiDAR frame), is
// projected into each camera with its pinhole intrinsics and T_lidar_camera; the image feature map is bilinearly
// sampled there (torch grid_sample). The sampling grids depend only on calibration and grid, so they are computed
// once per rig and cached.
#include <cstdint>
#include <string>
#include <vector>

#include "v2x/core/frame.hpp"
#include "v2x/core/grid.hpp"
#include "v2x/encoder/camera_config.hpp"

namespace v2x::encoder {

// Sampling grid of one camera: for height k and cell (iy, ix), the point's image position normalised to
// [-1, 1] as torch grid_sample expects with align_corners = false (-1 = left/top edge of the image, +1 =
// right/bottom edge), and whether it is valid (in front of the camera, inside the image, within range).
struct LiftGrid {
  int heights = 0, height = 0, width = 0;  // K, H, W
  std::vector<float> xy;                   // (K, H, W, 2) float32: (x_norm, y_norm)
  std::vector<float> valid;                // (K, H, W) float32: 1 valid, 0 not
  std::size_t valid_count() const;
};

// calib: intrinsics in pixels of an image of calib.width × calib.height (any resolution: normalised
// coordinates do not depend on it). heights_m: sample heights (LiDAR frame).
LiftGrid make_lift_grid(const CameraCalib& calib, const BevGrid& grid, const std::vector<double>& heights_m,
                        double min_depth_m, double max_range_m);

// Sample heights used by cfg (flat_ground: the first only).
std::vector<double> lift_heights(const CameraBranchConfig& cfg);

// Why a camera was dropped for a frame.
enum class CameraDrop { None = 0, MissingImage, CorruptImage, MissingCalibration };
const char* camera_drop_name(CameraDrop d);

// Checks one camera: the RGB image is present (non-empty), consistent (channels 3, rgb.size() == W*H*3) and the
// calibration is usable (finite fx, fy > 0, width/height > 0 and of the image's aspect ratio within 1 %,
// finite T_lidar_camera). Returns None when the camera can be used.
CameraDrop check_camera(const CameraFrame& cam);

// Per-frame camera accounting (counted, never thrown).
struct CameraInputStats {
  int used = 0;
  int missing_image = 0, corrupt_image = 0, missing_calibration = 0, over_capacity = 0;
  int dropped() const { return missing_image + corrupt_image + missing_calibration + over_capacity; }
  void add(const CameraInputStats& o);
};

// Bilinear resize of an interleaved RGB8 image to (3, out_h, out_w) float32 in [0, 1], planar, with area
// averaging when shrinking by an integer factor (OPV2V 800×600 → 200×150 is 4×4 averaging, no aliasing).
// Hand-written (not OpenCV) because the encoder library must build on the GPU machine without OpenCV.
void resize_rgb_to_planar(const Image& img, int out_w, int out_h, float* out);

}  // namespace v2x::encoder
