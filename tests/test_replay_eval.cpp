// v2x_replay --fusion end to end: a tiny OPV2V split written by `v2x_sim generate --config config/sim/tiny.yaml`,
// the shipped learned detector (data/models/detector), --fusion none and late, and the report / dump they write.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

int run(const std::string& cmd) {
  const int rc = std::system((cmd + " > /tmp/v2x_test_replay_eval.log 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
std::string log_tail() {
  std::ifstream in("/tmp/v2x_test_replay_eval.log");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

class ReplayEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / "v2x_test_replay_eval";
    fs::remove_all(root_);
    fs::create_directories(root_);
    setup_ok_ = run(std::string(V2X_SIM_BIN) + " generate --config config/sim/tiny.yaml --seed 3 --frames 4 --out " +
                    (root_ / "split").string() + " --no-progress") == 0;
    if (!setup_ok_) {
      setup_log_ = log_tail();
      return;
    }
    model_ = "data/models/detector";
    if (!fs::exists(model_ + "/manifest.json")) {
      setup_ok_ = false;
      setup_log_ = "the shipped detector data/models/detector is missing";
    }
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  nlohmann::json replay(const std::string& fusion, const std::string& extra = "") {
    const fs::path report = root_ / (fusion + ".json");
    const std::string cmd = std::string(V2X_REPLAY_BIN) + " --dataset " + (root_ / "split").string() +
                            " --format opv2v --model " + model_ + " --fusion " + fusion + " --report " +
                            report.string() + " --dump " + (root_ / (fusion + ".jsonl")).string() +
                            " --no-progress " + extra;
    EXPECT_EQ(run(cmd), 0) << cmd << "\n" << log_tail();
    std::ifstream in(report);
    return nlohmann::json::parse(in, nullptr, false);
  }

  static inline fs::path root_;
  static inline std::string model_, setup_log_;
  static inline bool setup_ok_ = false;
};

void expect_report_shape(const nlohmann::json& j, const std::string& method) {
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j.at("frames").get<int>(), 4);
  EXPECT_GE(j.at("agents").get<int>(), 2);  // tiny.yaml: 2 CAVs + 1 RSU; OpenCOOD's 70 m comm range keeps ≥ 2
  EXPECT_EQ(j.at("method"), method);
  for (const char* k : {"ap", "ap_global_sort"})
    for (const char* t : {"0.3", "0.5", "0.7"}) {
      const double ap = j.at(k).at(t).get<double>();
      EXPECT_GE(ap, 0.0);
      EXPECT_LE(ap, 1.0);
    }
  for (const char* s : {"encode", "select", "pack", "transport", "decode", "fuse", "detect", "total"})
    EXPECT_GE(j.at("latency_ms").at(s).at("median").get<double>(), 0.0) << s;
  EXPECT_GT(j.at("latency_ms").at("encode").at("median").get<double>(), 0.0);
  for (const char* k : {"stale", "corrupt", "unauthenticated"}) EXPECT_EQ(j.at("dropped").at(k), 0) << k;
}

}  // namespace

TEST_F(ReplayEval, NoFusionAndLateFusionWriteTheArchitectureReport) {
  ASSERT_TRUE(setup_ok_) << setup_log_;
  const auto none = replay("none");
  expect_report_shape(none, "none");
  EXPECT_EQ(none.at("bytes_per_message").at("mean").get<double>(), 0.0);

  const auto late = replay("late", "--budget-bytes 4096");
  expect_report_shape(late, "late");
  EXPECT_GT(late.at("bytes_per_message").at("mean").get<double>(), 0.0);
  EXPECT_LE(late.at("bytes_per_message").at("max").get<double>(), 4096.0);
  EXPECT_FALSE(late.contains("extra"));  // extra keys are merged at the top level, never nested
  EXPECT_GT(late.at("messages").get<int>(), 0);
  // The dump holds one line per ego frame.
  std::ifstream dump(root_ / "late.jsonl");
  int lines = 0;
  for (std::string l; std::getline(dump, l);) lines += !l.empty();
  EXPECT_EQ(lines, 4);
}

TEST_F(ReplayEval, BadArgumentsExitWithCode2) {
  ASSERT_TRUE(setup_ok_) << setup_log_;
  const std::string base = std::string(V2X_REPLAY_BIN) + " --dataset " + (root_ / "split").string() + " --format opv2v --model " + model_;
  EXPECT_EQ(run(base + " --fusion bogus"), 2) << log_tail();
  EXPECT_EQ(run(base + " --fusion late --bits 7"), 2) << log_tail();
  EXPECT_EQ(run(base + " --fusion none --budget-bytes 1"), 2) << log_tail();
  EXPECT_EQ(run(std::string(V2X_REPLAY_BIN) + " --dataset " + (root_ / "split").string() +
                " --format opv2v --fusion none --model /nonexistent/model"),
            2)
      << log_tail();
}
