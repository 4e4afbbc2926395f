#include <gtest/gtest.h>

#include "v2x/apps/config_yaml.hpp"

namespace {
enum class Codec { Int8 = 0, Int4 };
struct Lidar {
  int channels = 64;
  double range_m = 120;
  template <class V> void visit(V& v) {
    v("channels", channels, v2x::Range{1, 128});
    v("range_m", range_m, v2x::Range{1, 300});
  }
};
struct Node {
  std::string name = "ego";
  Codec codec = Codec::Int8;
  Lidar lidar;
  std::vector<int> peers;
  template <class V> void visit(V& v) {
    v("name", name);
    v("codec", codec);
    v("lidar", lidar);
    v("peers", peers, v2x::Range{-1000000, 1000000});
  }
};
}  // namespace
template <> struct v2x::EnumNames<Codec> { static constexpr std::array<std::string_view, 2> names{"int8", "int4"}; };

using v2x::apps::load_config_node;

static std::string error_of(const char* yaml) {
  try {
    load_config_node<Node>(YAML::Load(yaml), "node.yaml");
  } catch (const v2x::ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigYaml, AbsentKeysKeepStructDefaults) {
  const Node n = load_config_node<Node>(YAML::Load("name: rsu\nlidar: {channels: 32}"), "node.yaml");
  EXPECT_EQ(n.name, "rsu");
  EXPECT_EQ(n.lidar.channels, 32);
  EXPECT_EQ(n.lidar.range_m, 120);
  EXPECT_EQ(n.codec, Codec::Int8);
}

TEST(ConfigYaml, UnknownKeyIsAnErrorNamingFileAndKey) {
  EXPECT_EQ(error_of("lidar: {chanels: 32}"),
            "node.yaml: key 'lidar.chanels': unknown key (allowed: channels, range_m)");
}

TEST(ConfigYaml, OutOfRangeValueIsAnErrorNamingFileAndKey) {
  EXPECT_EQ(error_of("lidar: {channels: 0}"), "node.yaml: key 'lidar.channels': value 0 out of range [1, 128]");
}

TEST(ConfigYaml, WrongTypeAndBadEnumAreErrors) {
  EXPECT_EQ(error_of("lidar: {channels: many}"), "node.yaml: key 'lidar.channels': expected an integer, got 'many'");
  EXPECT_EQ(error_of("codec: int3"), "node.yaml: key 'codec': unknown value 'int3' (choose int8|int4)");
  EXPECT_EQ(error_of("lidar: 5"), "node.yaml: key 'lidar': expected a mapping");
}

TEST(ConfigYaml, DumpListsEveryField) {
  const std::string s = v2x::apps::dump_config(Node{});
  EXPECT_NE(s.find("channels: 64"), std::string::npos);
  EXPECT_NE(s.find("codec: int8"), std::string::npos);
}
