#include <gtest/gtest.h>

#include "v2x/core/config.hpp"

namespace {
enum class Mode { Fast = 0, Exact };
struct Inner {
  int channels = 64;
  template <class V> void visit(V& v) { v("channels", channels, v2x::Range{1, 128}); }
};
struct Outer {
  double range_m = 100.0;
  Mode mode = Mode::Fast;
  Inner lidar;
  std::vector<double> angles_deg{-10.0, 0.0};
  template <class V> void visit(V& v) {
    v("range_m", range_m, v2x::Range{1, 300});
    v("mode", mode);
    v("lidar", lidar);
    v("angles_deg", angles_deg, v2x::Range{-90, 90});
  }
};
}  // namespace
template <> struct v2x::EnumNames<Mode> { static constexpr std::array<std::string_view, 2> names{"fast", "exact"}; };

TEST(ConfigValidation, DefaultsAreValid) {
  Outer o;
  EXPECT_NO_THROW(v2x::validate_config(o, "x.yaml"));
}

TEST(ConfigValidation, OutOfRangeValueNamesFileAndKey) {
  Outer o;
  o.lidar.channels = 0;
  try {
    v2x::validate_config(o, "config/sim/town.yaml");
    FAIL() << "no error";
  } catch (const v2x::ConfigError& e) {
    EXPECT_STREQ(e.what(), "config/sim/town.yaml: key 'lidar.channels': value 0 out of range [1, 128]");
    EXPECT_EQ(e.key(), "lidar.channels");
  }
}

TEST(ConfigValidation, OutOfRangeVectorElementNamesIndex) {
  Outer o;
  o.angles_deg = {0.0, 95.0};
  EXPECT_THROW(v2x::validate_config(o, "f.yaml"), v2x::ConfigError);
  try { v2x::validate_config(o, "f.yaml"); } catch (const v2x::ConfigError& e) { EXPECT_EQ(e.key(), "angles_deg[1]"); }
}

TEST(ConfigValidation, EnumNamesListChoices) {
  EXPECT_EQ(v2x::enum_name(Mode::Exact), "exact");
  EXPECT_EQ(v2x::enum_choices<Mode>(), "fast|exact");
}
