#pragma once
// A tiny command-line parser for v2x_train. Hand-written on purpose: the trainer is built on the GPU machine
// (V2X_TRAINER_ONLY), where Boost.Program_options is not available and only LibTorch + carried headers exist.
// Accepts "--name value", "--name=value" and boolean "--flag"; unknown options are errors.
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace v2x::train {

class ArgError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // Declares an option with a default value (empty string = no default) and help text.
  Args& option(const std::string& name, const std::string& def, const std::string& help) {
    opts_[name] = Opt{def, help, false};
    order_.push_back(name);
    return *this;
  }
  Args& flag(const std::string& name, const std::string& help) {
    opts_[name] = Opt{"0", help, true};
    order_.push_back(name);
    return *this;
  }

  void parse(int argc, const char* const* argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw ArgError("unexpected argument '" + a + "'");
      a = a.substr(2);
      std::string value;
      bool has_value = false;
      if (auto eq = a.find('='); eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_value = true;
      }
      auto it = opts_.find(a);
      if (it == opts_.end()) throw ArgError("unknown option '--" + a + "' (see --help)");
      if (it->second.is_flag) {
        it->second.value = has_value ? value : "1";
      } else {
        if (!has_value) {
          if (i + 1 >= argc) throw ArgError("option '--" + a + "' needs a value");
          value = argv[++i];
        }
        it->second.value = value;
      }
      it->second.set = true;
    }
  }

  std::string str(const std::string& n) const { return get(n).value; }
  bool is_set(const std::string& n) const { return get(n).set; }
  bool flag_on(const std::string& n) const { return get(n).value == "1" || get(n).value == "true"; }
  long long integer(const std::string& n) const {
    const std::string& v = get(n).value;
    char* end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end) throw ArgError("option '--" + n + "': '" + v + "' is not an integer");
    return x;
  }
  double number(const std::string& n) const {
    const std::string& v = get(n).value;
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end) throw ArgError("option '--" + n + "': '" + v + "' is not a number");
    return x;
  }
  // Comma-separated list.
  std::vector<std::string> list(const std::string& n) const {
    std::vector<std::string> out;
    std::string cur;
    for (char c : get(n).value) {
      if (c == ',') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  }
  std::string help() const {
    std::string s;
    for (const auto& n : order_) {
      const Opt& o = opts_.at(n);
      s += "  --" + n + (o.is_flag ? "" : " <v>") + "\n      " + o.help;
      if (!o.is_flag && !o.value.empty()) s += " (default " + o.value + ")";
      s += "\n";
    }
    return s;
  }
  // Every option and its value (for the manifest).
  std::map<std::string, std::string> values() const {
    std::map<std::string, std::string> m;
    for (const auto& [k, o] : opts_) m[k] = o.value;
    return m;
  }

 private:
  struct Opt {
    std::string value, help;
    bool is_flag = false;
    bool set = false;
  };
  const Opt& get(const std::string& n) const {
    auto it = opts_.find(n);
    if (it == opts_.end()) throw std::logic_error("Args: undeclared option " + n);
    return it->second;
  }
  std::map<std::string, Opt> opts_;
  std::vector<std::string> order_;
};

}  // namespace v2x::train
