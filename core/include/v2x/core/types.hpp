#pragma once
// Identifiers and time. OPV2V/V2XSet agent ids are CARLA actor ids; negative ids are roadside units.
#include <cstdint>

namespace v2x {

using AgentId = std::int32_t;
using TimestampNs = std::int64_t;  // nanoseconds since the dataset/simulation epoch

constexpr TimestampNs kNsPerSecond = 1'000'000'000;
constexpr TimestampNs kNsPerMs = 1'000'000;

constexpr double ns_to_s(TimestampNs t_ns) { return static_cast<double>(t_ns) * 1e-9; }
constexpr TimestampNs s_to_ns(double t_s) { return static_cast<TimestampNs>(t_s * 1e9); }
constexpr double ns_to_ms(TimestampNs t_ns) { return static_cast<double>(t_ns) * 1e-6; }

// Object classes. "Vehicle" classes (car, van, truck, bus) are what the detector is trained on.
enum class ObjectClass : std::uint8_t { Car = 0, Van, Truck, Bus, Cyclist, Pedestrian, Unknown };

constexpr bool is_vehicle(ObjectClass c) {
  return c == ObjectClass::Car || c == ObjectClass::Van || c == ObjectClass::Truck || c == ObjectClass::Bus;
}
const char* to_string(ObjectClass c);
// Parses "Car", "car", "Van", "Truck", "Bus", "Cyclist", "Pedestrian" (case-insensitive); others → Unknown.
ObjectClass object_class_from_string(const char* name);

}  // namespace v2x
