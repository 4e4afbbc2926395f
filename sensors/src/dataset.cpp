#include "v2x/sensors/dataset.hpp"

#include <stdexcept>

#include "v2x/sensors/dair.hpp"
#include "v2x/sensors/kitti.hpp"
#include "v2x/sensors/opv2v.hpp"

namespace v2x::sensors {

DatasetFormat dataset_format_from_string(const std::string& name) {
  if (name == "opv2v" || name == "v2xset") return DatasetFormat::Opv2v;
  if (name == "dair") return DatasetFormat::Dair;
  if (name == "kitti") return DatasetFormat::Kitti;
  throw std::invalid_argument("unknown dataset format '" + name + "' (expected opv2v, dair or kitti)");
}

std::unique_ptr<CoopDataset> open_dataset(DatasetFormat format, const std::filesystem::path& root, bool cameras) {
  switch (format) {
    case DatasetFormat::Opv2v: {
      Opv2vReadOptions opt;
      opt.load_cameras = cameras;
      return std::make_unique<Opv2vDataset>(root, opt);
    }
    case DatasetFormat::Dair: return std::make_unique<DairDataset>(root);
    case DatasetFormat::Kitti: return std::make_unique<KittiDataset>(root);
  }
  throw std::invalid_argument("open_dataset: bad format");
}

}  // namespace v2x::sensors
