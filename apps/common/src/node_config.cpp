#include "v2x/apps/node_config.hpp"

#include <stdexcept>
#include <string>

namespace v2x::apps {

void NodeConfig::check(const std::string& file) const {
  if (model_dir.empty()) throw ConfigError(file, "model_dir", "must name the detector's model folder");
  if (comm.mtu_bytes > 0 && comm.mtu_bytes < 256)
    throw ConfigError(file, "comm.mtu_bytes", "must be 0 (no fragments) or at least 256 bytes");
  fusion_config.check(file);
  if (uses_cameras(sensors) && camera_model_dir.empty())
    throw ConfigError(file, "sensors", "'" + std::string(enum_name(sensors)) + "' needs camera_model_dir");
}

void ReplayConfig::check(const std::string& file) const {
  node.check(file);
  eval.check(file);
  for (std::size_t i = 0; i < sensors.size(); ++i)
    if (uses_cameras(sensors[i]) && node.camera_model_dir.empty())
      throw ConfigError(file, "sensors[" + std::to_string(i) + "]",
                        "'" + std::string(enum_name(sensors[i])) + "' needs node.camera_model_dir");
}

Quantization quantization_from_bits(int bits) {
  switch (bits) {
    case 32: return Quantization::Fp32;
    case 16: return Quantization::Fp16;
    case 8: return Quantization::Int8;
    case 4: return Quantization::Int4;
    default: throw std::invalid_argument("--bits must be 32, 16, 8 or 4 (got " + std::to_string(bits) + ")");
  }
}

int bits_of(Quantization q) {
  switch (q) {
    case Quantization::Fp32: return 32;
    case Quantization::Fp16: return 16;
    case Quantization::Int8: return 8;
    case Quantization::Int4: return 4;
  }
  return 32;
}

}  // namespace v2x::apps
