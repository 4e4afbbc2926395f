// v2x_sim generate end to end: twice with the same config + seed (different thread counts) into temp folders,
// byte-identical output; the OPV2V reader loads it; bad configs exit 2 naming the key.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sys/wait.h>

#include "v2x/sensors/opv2v.hpp"

namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("v2x_sim_it_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}
int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
std::map<std::string, std::string> read_tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    out[fs::relative(e.path(), root).string()] = std::string(std::istreambuf_iterator<char>(f), {});
  }
  return out;
}
const std::string kBin = V2X_SIM_BIN;
}  // namespace

TEST(SimGenerate, SameConfigAndSeedGiveByteIdenticalOutputThatTheReaderLoads) {
  const fs::path a = temp_dir("a"), b = temp_dir("b");
  const std::string base = kBin + " generate --config config/sim/tiny.yaml --seed 11 --frames 3 --no-progress --log-level warn";
  ASSERT_EQ(run(base + " --out " + a.string() + " --threads 1"), 0);
  ASSERT_EQ(run(base + " --out " + b.string() + " --threads 2"), 0);
  const auto ta = read_tree(a), tb = read_tree(b);
  ASSERT_EQ(ta.size(), 3u * 3u * 2u);  // 3 agents × 3 frames × (yaml + pcd)
  for (const auto& [name, bytes] : ta) {
    ASSERT_TRUE(tb.count(name)) << name;
    EXPECT_TRUE(bytes == tb.at(name)) << name << " differs";
  }
  int agent_dirs = 0;
  for (const auto& e : fs::directory_iterator(a / "tiny_seed11")) agent_dirs += e.is_directory();
  EXPECT_EQ(agent_dirs, 3);  // OUT/<name>_seed<seed>/<agent id>/
  v2x::sensors::Opv2vReadOptions ro;
  ro.apply_comm_range = false;
  v2x::sensors::Opv2vDataset ds(a, ro);
  ASSERT_EQ(ds.size(), 3u);
  const auto f = ds.load(1);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->scenario, "tiny_seed11");
  EXPECT_EQ(f->agents.size(), 3u);
  int visible = 0;
  for (const auto& ag : f->agents) {
    EXPECT_GT(ag.cloud.size(), 1000u);
    for (const auto& o : ag.labels_world) visible += o.lidar_points > 0;
  }
  EXPECT_GT(visible, 0);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(SimGenerate, BadConfigExitsWithCode2AndWritesNothing) {
  const fs::path dir = temp_dir("bad");
  {
    std::ofstream y(dir / "bad.yaml");
    y << "name: bad\nagents:\n  vehicle_lidar: {model: custom, channels: 0}\n";
  }
  const fs::path out = dir / "out";
  EXPECT_EQ(run(kBin + " generate --config " + (dir / "bad.yaml").string() + " --frames 1 --out " + out.string() +
                " 2> " + (dir / "err.txt").string()),
            2);
  std::ifstream e(dir / "err.txt");
  const std::string err((std::istreambuf_iterator<char>(e)), {});
  EXPECT_NE(err.find("agents.vehicle_lidar.channels"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(out / "bad_seed0"));
  {
    std::ofstream y(dir / "full.yaml");
    y << "name: full\ntown: {blocks_x: 1, blocks_y: 1}\ntraffic: {vehicles: 500}\n";
  }
  EXPECT_EQ(run(kBin + " generate --config " + (dir / "full.yaml").string() + " --frames 1 --out " + out.string() +
                " 2> " + (dir / "err.txt").string()),
            2);
  std::ifstream e2(dir / "err.txt");
  const std::string err2((std::istreambuf_iterator<char>(e2)), {});
  EXPECT_NE(err2.find("full.yaml"), std::string::npos) << err2;
  EXPECT_NE(err2.find("traffic.vehicles"), std::string::npos) << err2;
  fs::remove_all(dir);
}
