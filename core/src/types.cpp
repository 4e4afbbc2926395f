#include "v2x/core/expected.hpp"
#include "v2x/core/types.hpp"

#include <cctype>
#include <string>

namespace v2x {

const char* to_string(ObjectClass c) {
  switch (c) {
    case ObjectClass::Car: return "Car";
    case ObjectClass::Van: return "Van";
    case ObjectClass::Truck: return "Truck";
    case ObjectClass::Bus: return "Bus";
    case ObjectClass::Cyclist: return "Cyclist";
    case ObjectClass::Pedestrian: return "Pedestrian";
    case ObjectClass::Unknown: return "Unknown";
  }
  return "Unknown";
}

ObjectClass object_class_from_string(const char* name) {
  std::string s(name ? name : "");
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (s == "car") return ObjectClass::Car;
  if (s == "van") return ObjectClass::Van;
  if (s == "truck") return ObjectClass::Truck;
  if (s == "bus") return ObjectClass::Bus;
  if (s == "cyclist") return ObjectClass::Cyclist;
  if (s == "pedestrian") return ObjectClass::Pedestrian;
  return ObjectClass::Unknown;
}

const char* to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::Corrupt: return "corrupt";
    case ErrorCode::Truncated: return "truncated";
    case ErrorCode::WrongVersion: return "wrong_version";
    case ErrorCode::BadChecksum: return "bad_checksum";
    case ErrorCode::OutOfRange: return "out_of_range";
    case ErrorCode::Stale: return "stale";
    case ErrorCode::Unauthenticated: return "unauthenticated";
    case ErrorCode::Missing: return "missing";
    case ErrorCode::Empty: return "empty";
    case ErrorCode::Mismatch: return "mismatch";
    case ErrorCode::Io: return "io";
  }
  return "unknown";
}

}  // namespace v2x
