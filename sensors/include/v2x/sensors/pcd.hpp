#pragma once
// Point-cloud files: PCD through PCL (ascii, binary, binary_compressed) and KITTI velodyne .bin.
// Reading never throws for bad file contents: it returns an Error naming the file and the field concerned.
// Writing throws std::runtime_error naming the file (an I/O failure while writing is a setup problem).
#include <filesystem>

#include "v2x/core/expected.hpp"
#include "v2x/core/point_cloud.hpp"

namespace v2x::sensors {

enum class PcdEncoding { Ascii, Binary, BinaryCompressed };

// How the intensity channel is stored in a PCD.
//  Intensity: a float32 field `intensity` holding PointCloud::intensity as-is.
//  RgbPacked: OPV2V/OpenCDA's layout: a float32 field `rgb` whose bit pattern is the uint32 0x00RR0000 with
//             RR = round(clamp(intensity, 0, 1) * 255); readers (Open3D in OpenCOOD's pcd_to_np) take R / 255.
enum class PcdIntensity { Intensity, RgbPacked };

struct PcdWriteOptions {
  PcdEncoding encoding = PcdEncoding::Binary;
  PcdIntensity intensity = PcdIntensity::Intensity;
  bool write_time = true;  // writes a float64 field `time` (seconds) when the cloud has time_s
};

// Reads x, y, z (required, float32 or float64) and the intensity from the first of these fields present:
//   `intensity` / `i` / `reflectance` (any numeric type; uint8 is scaled to [0, 1] by / 255, others kept raw),
//   `rgb` / `rgba` (packed; intensity = R / 255, as Open3D reads OPV2V clouds);
// no intensity field → 0. Per-point time from `time` / `t` / `offset_time` (seconds, kept as-is) or
// `timestamp` (absolute seconds, stored relative to the cloud's smallest timestamp).
// Points with non-finite coordinates are kept (the caller decides; PointCloud::remove_non_finite).
// Errors: Missing (no file), Corrupt/Truncated (PCL refuses the header/body), Missing (no x/y/z field),
// Corrupt (a field of an unsupported type or count).
Expected<PointCloud> read_pcd(const std::filesystem::path& file);

// Writes atomically (temporary file in the same folder, then rename). Deterministic bytes.
void write_pcd(const PointCloud& cloud, const std::filesystem::path& file, const PcdWriteOptions& opt = {});

// KITTI velodyne scan: float32 × 4 (x, y, z, reflectance) per point, little-endian, no header.
// Errors: Missing, Io, Truncated (size not a multiple of 16 bytes).
Expected<PointCloud> read_kitti_bin(const std::filesystem::path& file);
void write_kitti_bin(const PointCloud& cloud, const std::filesystem::path& file);

}  // namespace v2x::sensors
