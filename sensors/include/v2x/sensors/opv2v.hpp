#pragma once
// OPV2V / V2XSet layout, read and written exactly as OpenCOOD's loader reads it (docs/datasets.md lists every
// rule with its source):
//   <split>/<scenario>/<agent id>/<timestamp>.yaml   per-agent metadata (poses in CARLA [x, y, z, roll, yaw, pitch],
//                                                     degrees; `vehicles` with half-size extents; speeds in km/h)
//   <split>/<scenario>/<agent id>/<timestamp>.pcd    the agent's LiDAR cloud (x y z + rgb-packed intensity)
//   <split>/<scenario>/<agent id>/<timestamp>_camera<N>.png   RGB, N = 0..3
//   <split>/<scenario>/<agent id>/<timestamp>_depth<N>.png    (ours, optional) 16-bit depth in mm
// Negative agent ids are roadside units. Files whose name contains "additional" are not frames.
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "v2x/core/expected.hpp"
#include "v2x/core/frame.hpp"
#include "v2x/sensors/dataset.hpp"

namespace v2x::sensors {

// Extra keys we write next to OpenCOOD's (OpenCOOD ignores unknown keys). Documented in docs/datasets.md.
inline constexpr const char* kOpv2vLidarPointsKey = "v2x_lidar_points";  // per vehicle: LiDAR returns inside the box
                                                                          // for this agent (visibility), int
inline constexpr const char* kOpv2vExactBoxKey = "v2x_box";              // per vehicle: [x, y, z, l, w, h, yaw_rad]
inline constexpr const char* kOpv2vClassKey = "v2x_class";               // per vehicle: "Car", "Van", ...
inline constexpr const char* kOpv2vExactPoseKey = "v2x_T_world_lidar";   // per agent: row-major 4×4
inline constexpr const char* kOpv2vExactNoisyPoseKey = "v2x_T_world_lidar_noisy";
inline constexpr const char* kOpv2vStampKey = "v2x_stamp_ns";            // per agent: int64 nanoseconds
inline constexpr const char* kOpv2vExactCameraKey = "v2x_T_lidar_camera";  // per camera: row-major 4×4 (OpenCV axes)
inline constexpr const char* kOpv2vOtherObjectsKey = "v2x_other_objects";  // non-vehicle objects, same schema

// OPV2V frames are numbered in simulation steps of 50 ms (recorded every other step, 10 Hz): when a YAML has no
// v2x_stamp_ns, stamp_ns = frame number × 50 ms.
inline constexpr TimestampNs kOpv2vStepNs = 50 * kNsPerMs;

struct Opv2vWriteOptions {
  bool write_cameras = true;  // `_camera<N>.png` for every camera with a non-empty image (N = index in
                              // AgentFrame::cameras, or the number in a name "camera<N>"), `_depth<N>.png` for depth
  bool binary_pcd = true;     // binary PCD; false → ascii (as the original OPV2V release)
  bool compressed_pcd = false;  // binary_compressed PCD (implies binary)
  bool write_exact_keys = true; // the v2x_* exact-value keys (bit-exact round trip through our reader)
};

// Writes frame f as <split_dir>/<f.scenario>/<agent id>/<f.timestamp>.{pcd,yaml} (+ images). Each file is written
// to a temporary name and renamed; the YAML is renamed last, so a reader (which indexes YAMLs) never sees a
// half-written frame. Deterministic: the same frame gives the same bytes.
// Per agent, `vehicles` lists the agent's labels_world of vehicle classes (Car/Van/Truck/Bus); other classes go
// under v2x_other_objects. Throws std::runtime_error naming the file on I/O failure, std::invalid_argument when
// the frame cannot be expressed in the layout (an RSU with a non-negative id, a CAV with a negative id, an
// empty scenario/timestamp).
void write_opv2v_frame(const CoopFrame& f, const std::filesystem::path& split_dir, const Opv2vWriteOptions& opt = {});

struct Opv2vReadOptions {
  double comm_range_m = 70.0;   // OpenCOOD COM_RANGE: agents farther (XY, lidar_pose) from the ego are dropped
  bool apply_comm_range = true;
  int max_cav = 7;              // OpenCOOD train_params.max_cav: agents after the first max_cav (sorted) are ignored
  bool load_clouds = true;
  bool load_cameras = false;    // reads `_camera<N>.png` when present (calibration is always read)
  bool prefer_exact_keys = true;  // use v2x_* keys when present and consistent with the OpenCOOD keys
};

// One scenario folder: its agents in OpenCOOD's order (ego first) and its timestamps (from the ego's YAMLs).
struct Opv2vScenario {
  std::string name;
  std::filesystem::path dir;
  std::vector<std::string> agent_dirs;  // OpenCOOD order; agent_dirs[0] is the ego
  std::vector<std::string> timestamps;  // sorted
};

class Opv2vDataset : public CoopDataset {
 public:
  // root: a split folder (holding scenario folders) or a single scenario folder (holding agent folders).
  // Throws std::runtime_error naming the folder when it does not exist or holds no frame.
  explicit Opv2vDataset(std::filesystem::path root, Opv2vReadOptions opt = {});
  std::size_t size() const override;
  FrameRef ref(std::size_t i) const override;
  Expected<CoopFrame> load(std::size_t i) const override;
  const char* format() const override { return "opv2v"; }

  const std::vector<Opv2vScenario>& scenarios() const { return scenarios_; }
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  Opv2vReadOptions opt_;
  std::vector<Opv2vScenario> scenarios_;
  std::vector<std::pair<std::size_t, std::size_t>> index_;  // (scenario, timestamp index)
};

// Loads one agent's frame from its YAML (and PCD / images) without the cooperative rules. The agent id is
// taken from the folder name. Exposed for tests and tools.
Expected<AgentFrame> load_opv2v_agent(const std::filesystem::path& agent_dir, const std::string& timestamp,
                                      const Opv2vReadOptions& opt = {});

}  // namespace v2x::sensors
