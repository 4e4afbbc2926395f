#pragma once
// Common interface of the dataset readers (OPV2V/V2XSet, DAIR-V2X-C, KITTI): an indexed list of cooperative
// frames. Indexing (the constructor) throws std::runtime_error naming the folder/file when the dataset layout
// itself is unusable; loading one frame returns Expected so a bad frame can be skipped and counted.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "v2x/core/expected.hpp"
#include "v2x/core/frame.hpp"

namespace v2x::sensors {

// What a frame is, known without loading it.
struct FrameRef {
  std::string scenario;          // OPV2V scenario folder; DAIR: "<vehicle frame>_<infrastructure frame>"; KITTI: split
  std::string timestamp;         // OPV2V frame name ("000069"); DAIR vehicle frame id; KITTI frame id
  std::vector<AgentId> agents;   // candidate agents in load order (before any range rule is applied)
};

class CoopDataset {
 public:
  virtual ~CoopDataset() = default;
  virtual std::size_t size() const = 0;
  virtual FrameRef ref(std::size_t i) const = 0;
  virtual Expected<CoopFrame> load(std::size_t i) const = 0;
  virtual const char* format() const = 0;  // "opv2v", "dair", "kitti"
};

enum class DatasetFormat { Opv2v, Dair, Kitti };
// "opv2v" (also "v2xset"), "dair", "kitti"; throws std::invalid_argument for anything else.
DatasetFormat dataset_format_from_string(const std::string& name);
// Opens a dataset with each reader's default options; `cameras`: also load the camera images (OPV2V layout only:
// the DAIR and KITTI readers load no images). Throws std::runtime_error for an unusable layout.
std::unique_ptr<CoopDataset> open_dataset(DatasetFormat format, const std::filesystem::path& root, bool cameras = false);

}  // namespace v2x::sensors
