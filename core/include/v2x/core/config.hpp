#pragma once
// Typed configuration. Every config struct holds its defaults in member initialisers and lists its
// fields once, in a `visit` member template:
//
//   struct LidarConfig {
//     int channels = 64;
//     double range_m = 120.0;
//     Sampling mode = Sampling::Uniform;           // enum: needs EnumNames<Sampling>
//     template <class V> void visit(V& v) {
//       v("channels", channels, Range{1, 128});
//       v("range_m", range_m, Range{1, 300});
//       v("mode", mode);
//     }
//   };
//
// Supported member types: bool, integral, floating point, std::string, enums with an EnumNames
// specialisation, nested structs with `visit`, std::vector of any of these, std::array of arithmetic.
// The same list drives YAML loading (apps/common: unknown keys are errors), validation (below) and
// dumping. Errors name the file and the dotted key path.
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace v2x {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::string key, const std::string& what)
      : std::runtime_error(format(file, key, what)), file_(std::move(file)), key_(std::move(key)) {}
  const std::string& file() const { return file_; }
  const std::string& key() const { return key_; }

 private:
  static std::string format(const std::string& file, const std::string& key, const std::string& what) {
    std::string s = file.empty() ? std::string("config") : file;
    if (!key.empty()) s += ": key '" + key + "'";
    return s + ": " + what;
  }
  std::string file_, key_;
};

// Inclusive numeric bounds of a field.
struct Range {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
};

// Specialise for every enum used in a config:
//   template <> struct EnumNames<Sampling> { static constexpr std::array<std::string_view, 2> names{"uniform", "dense"}; };
// Enumerator values must be 0..N-1 in the order of `names`.
template <class E>
struct EnumNames;

namespace config_detail {
template <class T, class = void>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

// Detect a visit member template usable with visitor V.
template <class T, class V>
concept Visitable = requires(T& t, V& v) { t.visit(v); };
}  // namespace config_detail

template <class E>
std::string_view enum_name(E e) {
  const auto& names = EnumNames<E>::names;
  auto i = static_cast<std::size_t>(e);
  return i < names.size() ? names[i] : std::string_view("?");
}
template <class E>
std::string enum_choices() {
  std::string s;
  for (auto n : EnumNames<E>::names) s += (s.empty() ? "" : "|") + std::string(n);
  return s;
}

// Checks every numeric field against its Range; throws ConfigError naming `file` and the key path.
class RangeValidator {
 public:
  explicit RangeValidator(std::string file) : file_(std::move(file)) {}

  template <class T>
  void operator()(std::string_view key, T& value, Range r = {}) {
    std::string path = prefix_ + std::string(key);
    check(path, value, r);
  }

 private:
  template <class T>
  void check(const std::string& path, T& value, Range r) {
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      const double d = static_cast<double>(value);
      if (!std::isfinite(d) && std::is_floating_point_v<T>) throw ConfigError(file_, path, "value is not finite");
      if (d < r.min || d > r.max) {
        std::ostringstream os;
        os << "value " << d << " out of range [" << r.min << ", " << r.max << "]";
        throw ConfigError(file_, path, os.str());
      }
    } else if constexpr (config_detail::is_vector<T>::value || config_detail::is_std_array<T>::value) {
      for (std::size_t i = 0; i < value.size(); ++i) check(path + "[" + std::to_string(i) + "]", value[i], r);
    } else if constexpr (config_detail::Visitable<T, RangeValidator>) {
      const std::string saved = prefix_;
      prefix_ = path + ".";
      value.visit(*this);
      prefix_ = saved;
    }
  }
  std::string file_;
  std::string prefix_;
};

// Validates a config struct (ranges of every field, recursively). `file` is used in the message.
template <class Cfg>
void validate_config(Cfg& cfg, const std::string& file = "") {
  RangeValidator v(file);
  cfg.visit(v);
  if constexpr (requires { cfg.check(file); }) cfg.check(file);  // cross-field rules, if any
}

}  // namespace v2x
