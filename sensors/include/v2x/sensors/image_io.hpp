#pragma once
// Camera images through OpenCV. v2x::Image is RGB (R, G, B order) or float depth in metres.
#include <filesystem>
#include <vector>

#include "v2x/core/expected.hpp"
#include "v2x/core/frame.hpp"

namespace v2x::sensors {

// Reads any OpenCV-decodable 8-bit image as RGB (grey images are expanded to 3 channels).
// Errors: Missing (no file), Corrupt (OpenCV cannot decode it).
Expected<Image> read_image_rgb(const std::filesystem::path& file);
// Writes an RGB image as PNG, atomically, deterministic bytes (fixed compression level 3).
void write_png_rgb(const Image& rgb, const std::filesystem::path& file);

// Depth images are stored as 16-bit single-channel PNG in millimetres (0 = no return; depths above 65.535 m
// and non-finite values are stored as 0). Lossy: 1 mm resolution.
Expected<Image> read_depth_png(const std::filesystem::path& file);
void write_depth_png(const Image& depth, const std::filesystem::path& file);

}  // namespace v2x::sensors
