#pragma once
// YAML → typed config structs (the only place in v2x that reads YAML). Drives the `visit` field list of a
// config struct (see v2x/core/config.hpp): present keys are parsed and range-checked, absent keys keep the
// struct's default, unknown keys and wrong types are ConfigErrors naming the file and dotted key path.
#include <yaml-cpp/yaml.h>

#include <string>
#include <type_traits>

#include "v2x/core/config.hpp"

namespace v2x::apps {

class YamlReader {
 public:
  YamlReader(const YAML::Node& node, std::string file, std::string prefix = "")
      : node_(node), file_(std::move(file)), prefix_(std::move(prefix)) {}

  template <class T>
  void operator()(std::string_view key, T& value, Range r = {}) {
    seen_.push_back(std::string(key));
    const std::string path = prefix_ + std::string(key);
    const YAML::Node child = node_[std::string(key)];
    if (!child.IsDefined() || child.IsNull()) return;  // keep the default
    parse(child, value, path, r);
  }

  // Throws for keys present in the node but not listed by visit().
  void reject_unknown() const {
    if (!node_.IsMap()) return;
    for (const auto& kv : node_) {
      const std::string k = kv.first.as<std::string>();
      bool known = false;
      for (const auto& s : seen_) known = known || s == k;
      if (!known) {
        std::string allowed;
        for (const auto& s : seen_) allowed += (allowed.empty() ? "" : ", ") + s;
        throw ConfigError(file_, prefix_ + k, "unknown key (allowed: " + allowed + ")");
      }
    }
  }

 private:
  template <class T>
  void parse(const YAML::Node& n, T& value, const std::string& path, Range r) {
    if constexpr (std::is_same_v<T, bool>) {
      value = scalar<bool>(n, path, "a boolean");
    } else if constexpr (std::is_arithmetic_v<T>) {
      value = scalar<T>(n, path, std::is_integral_v<T> ? "an integer" : "a number");
      RangeValidator{file_}(path, value, r);  // same message as validate_config
    } else if constexpr (std::is_same_v<T, std::string>) {
      value = scalar<std::string>(n, path, "a string");
    } else if constexpr (std::is_enum_v<T>) {
      const auto s = scalar<std::string>(n, path, "a string");
      const auto& names = EnumNames<T>::names;
      for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == s) { value = static_cast<T>(i); return; }
      throw ConfigError(file_, path, "unknown value '" + s + "' (choose " + enum_choices<T>() + ")");
    } else if constexpr (config_detail::is_vector<T>::value) {
      if (!n.IsSequence()) throw ConfigError(file_, path, "expected a list");
      value.clear();
      for (std::size_t i = 0; i < n.size(); ++i) {
        typename T::value_type item{};
        parse(n[i], item, path + "[" + std::to_string(i) + "]", r);
        value.push_back(std::move(item));
      }
    } else if constexpr (config_detail::is_std_array<T>::value) {
      if (!n.IsSequence() || n.size() != value.size())
        throw ConfigError(file_, path, "expected a list of " + std::to_string(value.size()) + " values");
      for (std::size_t i = 0; i < value.size(); ++i) parse(n[i], value[i], path + "[" + std::to_string(i) + "]", r);
    } else {
      if (!n.IsMap()) throw ConfigError(file_, path, "expected a mapping");
      YamlReader sub(n, file_, path + ".");
      value.visit(sub);
      sub.reject_unknown();
    }
  }

  template <class S>
  S scalar(const YAML::Node& n, const std::string& path, const char* what) const {
    if (!n.IsScalar()) throw ConfigError(file_, path, std::string("expected ") + what);
    try {
      return n.as<S>();
    } catch (const YAML::Exception&) {
      throw ConfigError(file_, path, std::string("expected ") + what + ", got '" + n.Scalar() + "'");
    }
  }

  YAML::Node node_;
  std::string file_, prefix_;
  std::vector<std::string> seen_;
};

// Loads `file` into a default-constructed Cfg: parse, reject unknown keys, validate (ranges + cross-field).
template <class Cfg>
Cfg load_config_node(const YAML::Node& root, const std::string& file) {
  Cfg cfg{};
  if (root.IsDefined() && !root.IsNull()) {
    if (!root.IsMap()) throw ConfigError(file, "", "expected a mapping at the top level");
    YamlReader r(root, file);
    cfg.visit(r);
    r.reject_unknown();
  }
  validate_config(cfg, file);
  return cfg;
}

YAML::Node load_yaml_file(const std::string& file);  // ConfigError on missing file or YAML syntax error

template <class Cfg>
Cfg load_config(const std::string& file) {
  return load_config_node<Cfg>(load_yaml_file(file), file);
}

// Emits a config struct as YAML (all fields, defaults included): `v2x_* --print-config`.
class YamlWriter {
 public:
  explicit YamlWriter(YAML::Emitter& out) : out_(out) {}
  template <class T>
  void operator()(std::string_view key, T& value, Range = {}) {
    out_ << YAML::Key << std::string(key) << YAML::Value;
    emit(value);
  }

 private:
  template <class T>
  void emit(T& value) {
    if constexpr (std::is_enum_v<T>) out_ << std::string(enum_name(value));
    else if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) out_ << value;
    else if constexpr (config_detail::is_vector<T>::value || config_detail::is_std_array<T>::value) {
      out_ << YAML::Flow << YAML::BeginSeq;
      for (auto& v : value) emit(v);
      out_ << YAML::EndSeq;
    } else {
      out_ << YAML::BeginMap;
      value.visit(*this);
      out_ << YAML::EndMap;
    }
  }
  YAML::Emitter& out_;
};

template <class Cfg>
std::string dump_config(Cfg cfg) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  YamlWriter w(out);
  cfg.visit(w);
  out << YAML::EndMap;
  return out.c_str();
}

}  // namespace v2x::apps
