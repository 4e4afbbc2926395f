#pragma once
// The evaluation report of the architecture (--report FILE.json), the per-frame dump (--dump FILE.jsonl) and
// recomputing AP from a dump. JSON via nlohmann_json (header-only, carried to the GPU machine).
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "v2x/core/types.hpp"
#include "v2x/detection/evaluation.hpp"

namespace v2x::detection {

// Collects samples (e.g. milliseconds, bytes) and answers percentiles. Percentiles interpolate linearly between
// order statistics (numpy.percentile's default "linear"); an empty accumulator answers 0.
class PercentileAccumulator {
 public:
  void add(double x) { samples_.push_back(x); }
  void clear() { samples_.clear(); }
  std::size_t size() const { return samples_.size(); }
  double percentile(double q_percent) const;  // q in [0, 100]
  double median() const { return percentile(50); }
  double p95() const { return percentile(95); }
  double p99() const { return percentile(99); }
  double mean() const;
  double max() const;

 private:
  std::vector<double> samples_;
};

struct StageLatency {
  double median_ms = 0, p99_ms = 0;
};

// Architecture "Reports" format. to_json() writes exactly its keys (plus `extra`, merged at top level).
struct EvalReport {
  std::int64_t frames = 0;
  std::int64_t agents = 0;
  std::string method;
  std::vector<std::pair<double, double>> ap;              // (iou threshold, AP), OpenCOOD default order
  std::vector<std::pair<double, double>> ap_global_sort;  // (iou threshold, AP), global sort
  struct Bytes {
    double mean = 0, p95 = 0, max = 0;
  } bytes_per_message;
  std::vector<std::pair<std::string, StageLatency>> latency_ms;  // stage name → median/p99, in insertion order
  struct Dropped {
    std::int64_t stale = 0, corrupt = 0, unauthenticated = 0;
  } dropped;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // e.g. {"ap_min10_points": {...}}

  void set_ap(const ApSummary& s);  // fills ap and ap_global_sort
  void set_bytes(const PercentileAccumulator& bytes);
  void add_latency(const std::string& stage, const PercentileAccumulator& ms);
  nlohmann::ordered_json to_json() const;
};

// AP map key: "0.3", "0.5", "0.7" (shortest decimal form of the threshold).
std::string threshold_key(double iou_threshold);
// AP summary as {"0.3": f, ...} for the default and the global-sort variant.
nlohmann::ordered_json ap_json(const ApSummary& s, bool global_sort);

// Writes to_json() (indented) to `path`; throws std::runtime_error naming the file on failure.
void write_report(const EvalReport& report, const std::string& path);

// One dump line: {"frame": "<scenario>/<timestamp>", "ego": id, "detections": [[x,y,z,l,w,h,yaw,score]...],
// "gt": [[x,y,z,l,w,h,yaw]...], "gt_points": [n...]}. gt_points (LiDAR returns per GT, -1 unknown) is our
// extension so the ">= N returns" metric can be recomputed too.
struct DumpRecord {
  std::string frame;
  AgentId ego = 0;
  std::vector<Detection> detections;
  std::vector<Box3D> gt;
  std::vector<int> gt_points;
};
nlohmann::ordered_json to_json(const DumpRecord& r);
// Throws std::runtime_error (message says what is wrong) on a malformed object.
DumpRecord dump_record_from_json(const nlohmann::json& j);

class DumpWriter {
 public:
  explicit DumpWriter(const std::string& path);  // truncates; throws std::runtime_error naming the file
  void write(const DumpRecord& r);
  // Writes what the evaluator used for one frame.
  void write(const std::string& frame, AgentId ego, const FrameEval& ev);
  void flush();

 private:
  std::string path_;
  std::ofstream out_;
};

// Reads every line of a dump (blank lines skipped). Throws std::runtime_error naming file and line.
std::vector<DumpRecord> read_dump(const std::string& path);
// Recomputes AP from a dump, frames in file order, with `cfg` (default: the OpenCOOD protocol).
ApSummary evaluate_dump(const std::string& path, const EvalConfig& cfg = {});

}  // namespace v2x::detection
