// data/fixtures/opv2v_tiny: a tiny OPV2V split written by write_opv2v_frame (2 agents incl. an RSU, 2 good frames)
// plus one bad frame (000004: the RSU's PCD is cut short) for v2x_replay's skip-and-count test.
// The test regenerates it into a temporary folder and requires identical bytes, so the committed fixture is
// always exactly what the writer produces. Regenerate with V2X_REGENERATE_FIXTURES=1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "test_util.hpp"
#include "v2x/sensors/opv2v.hpp"

namespace v2x::sensors {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_tiny_fixture(const fs::path& split) {
  Rng rng(2024);
  for (int t = 0; t < 3; ++t) {
    CoopFrame f;
    f.scenario = "tiny_scenario";
    char name[16];
    std::snprintf(name, sizeof name, "%06d", 2 * t);
    f.timestamp = name;
    for (AgentId id : {7, -2}) {
      AgentFrame a;
      a.id = id;
      a.is_rsu = id < 0;
      a.stamp_ns = 2 * t * kOpv2vStepNs;
      a.T_world_lidar = pose_from_carla({id < 0 ? 20.0 : 1.0 * t, id < 0 ? -5.0 : 0.0, id < 0 ? 4.0 : 1.9, 0.0, id < 0 ? 180.0 : 90.0, 0.0});
      a.cloud = test::random_cloud(rng, 40);
      for (int k = 0; k < 2; ++k) a.labels_world.push_back(test::random_object(rng, 100 + k + (id < 0 ? 1 : 0), a.T_world_lidar.translation()));
      f.agents.push_back(std::move(a));
    }
    f.ego = 7;
    Opv2vWriteOptions wo;
    wo.binary_pcd = false;  // ascii: readable fixture
    write_opv2v_frame(f, split, wo);
  }
  // Frame 000004 is bad: the RSU's cloud loses its last half.
  const fs::path bad = split / "tiny_scenario" / "-2" / "000004.pcd";
  const std::string bytes = slurp(bad);
  std::ofstream(bad, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
}

TEST(Opv2vFixture, CommittedTinyFixtureIsExactlyWhatTheWriterWrites) {
  const fs::path committed = fs::path("data") / "fixtures" / "opv2v_tiny";
  if (std::getenv("V2X_REGENERATE_FIXTURES")) {
    fs::remove_all(committed);
    write_tiny_fixture(committed);
  }
  ASSERT_TRUE(fs::exists(committed)) << "run from the repository root";
  test::TempDir tmp("fixture");
  write_tiny_fixture(tmp.path);
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(tmp.path)) {
    if (!e.is_regular_file()) continue;
    ++files;
    const fs::path rel = fs::relative(e.path(), tmp.path);
    EXPECT_EQ(slurp(e.path()), slurp(committed / rel)) << rel;
  }
  EXPECT_EQ(files, 12u);
  Opv2vDataset ds(committed);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_TRUE(ds.load(0));
  EXPECT_TRUE(ds.load(1));
  auto bad = ds.load(2);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("000004.pcd"), std::string::npos);
}

}  // namespace
}  // namespace v2x::sensors
