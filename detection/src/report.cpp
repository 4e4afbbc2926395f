#include "v2x/detection/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

namespace v2x::detection {

double PercentileAccumulator::percentile(double q) const {
  if (samples_.empty()) return 0.0;
  std::vector<double> s = samples_;
  std::sort(s.begin(), s.end());
  const double pos = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(s.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (pos - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

double PercentileAccumulator::mean() const {
  if (samples_.empty()) return 0.0;
  return std::accumulate(samples_.begin(), samples_.end(), 0.0) / static_cast<double>(samples_.size());
}

double PercentileAccumulator::max() const {
  return samples_.empty() ? 0.0 : *std::max_element(samples_.begin(), samples_.end());
}

std::string threshold_key(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", t);
  return buf;
}

nlohmann::ordered_json ap_json(const ApSummary& s, bool global_sort) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < s.thresholds.size(); ++i)
    j[threshold_key(s.thresholds[i])] = global_sort ? s.ap_global_sort[i] : s.ap[i];
  return j;
}

void EvalReport::set_ap(const ApSummary& s) {
  ap.clear();
  ap_global_sort.clear();
  for (std::size_t i = 0; i < s.thresholds.size(); ++i) {
    ap.emplace_back(s.thresholds[i], s.ap[i]);
    ap_global_sort.emplace_back(s.thresholds[i], s.ap_global_sort[i]);
  }
}

void EvalReport::set_bytes(const PercentileAccumulator& b) { bytes_per_message = {b.mean(), b.p95(), b.max()}; }

void EvalReport::add_latency(const std::string& stage, const PercentileAccumulator& ms) {
  latency_ms.emplace_back(stage, StageLatency{ms.median(), ms.p99()});
}

nlohmann::ordered_json EvalReport::to_json() const {
  using J = nlohmann::ordered_json;
  J j;
  j["frames"] = frames;
  j["agents"] = agents;
  j["method"] = method;
  J a = J::object(), ag = J::object();
  for (const auto& [t, v] : ap) a[threshold_key(t)] = v;
  for (const auto& [t, v] : ap_global_sort) ag[threshold_key(t)] = v;
  j["ap"] = a;
  j["ap_global_sort"] = ag;
  j["bytes_per_message"] = {{"mean", bytes_per_message.mean}, {"p95", bytes_per_message.p95},
                            {"max", bytes_per_message.max}};
  J lat = J::object();
  for (const auto& [stage, l] : latency_ms) lat[stage] = {{"median", l.median_ms}, {"p99", l.p99_ms}};
  j["latency_ms"] = lat;
  j["dropped"] = {{"stale", dropped.stale}, {"corrupt", dropped.corrupt}, {"unauthenticated", dropped.unauthenticated}};
  for (const auto& [k, v] : extra.items()) j[k] = v;
  return j;
}

void write_report(const EvalReport& report, const std::string& path) {
  std::ofstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open report file for writing");
  f << report.to_json().dump(2) << '\n';
  if (!f) throw std::runtime_error(path + ": write failed");
}

nlohmann::ordered_json to_json(const DumpRecord& r) {
  using J = nlohmann::ordered_json;
  J j;
  j["frame"] = r.frame;
  j["ego"] = r.ego;
  J dets = J::array();
  for (const Detection& d : r.detections) {
    const Box3D& b = d.box;
    dets.push_back({b.center.x(), b.center.y(), b.center.z(), b.l_m, b.w_m, b.h_m, b.yaw_rad,
                    static_cast<double>(d.score)});
  }
  j["detections"] = std::move(dets);
  J gt = J::array();
  for (const Box3D& b : r.gt) gt.push_back({b.center.x(), b.center.y(), b.center.z(), b.l_m, b.w_m, b.h_m, b.yaw_rad});
  j["gt"] = std::move(gt);
  j["gt_points"] = r.gt_points;
  return j;
}

namespace {
Box3D box_from_array(const nlohmann::json& a, std::size_t expected, const char* what) {
  if (!a.is_array() || a.size() != expected)
    throw std::runtime_error(std::string(what) + " entry must be an array of " + std::to_string(expected) + " numbers");
  for (const auto& v : a)
    if (!v.is_number()) throw std::runtime_error(std::string(what) + " entry holds a non-number");
  Box3D b;
  b.center = {a[0].get<double>(), a[1].get<double>(), a[2].get<double>()};
  b.l_m = a[3].get<double>();
  b.w_m = a[4].get<double>();
  b.h_m = a[5].get<double>();
  b.yaw_rad = a[6].get<double>();
  return b;
}
}  // namespace

DumpRecord dump_record_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("dump line is not a JSON object");
  for (const char* key : {"frame", "ego", "detections", "gt"})
    if (!j.contains(key)) throw std::runtime_error(std::string("missing key '") + key + "'");
  DumpRecord r;
  if (!j["frame"].is_string()) throw std::runtime_error("'frame' must be a string");
  if (!j["ego"].is_number_integer()) throw std::runtime_error("'ego' must be an integer");
  if (!j["detections"].is_array() || !j["gt"].is_array()) throw std::runtime_error("'detections'/'gt' must be arrays");
  r.frame = j["frame"].get<std::string>();
  r.ego = j["ego"].get<AgentId>();
  for (const auto& d : j["detections"]) {
    Detection det;
    det.box = box_from_array(d, 8, "'detections'");
    det.score = static_cast<float>(d[7].get<double>());
    r.detections.push_back(det);
  }
  for (const auto& g : j["gt"]) r.gt.push_back(box_from_array(g, 7, "'gt'"));
  if (j.contains("gt_points")) {
    const auto& p = j["gt_points"];
    if (!p.is_array() || p.size() != r.gt.size()) throw std::runtime_error("'gt_points' must match 'gt' in length");
    for (const auto& v : p) {
      if (!v.is_number_integer()) throw std::runtime_error("'gt_points' must hold integers");
      r.gt_points.push_back(v.get<int>());
    }
  }
  return r;
}

DumpWriter::DumpWriter(const std::string& path) : path_(path), out_(path, std::ios::trunc) {
  if (!out_) throw std::runtime_error(path + ": cannot open dump file for writing");
}

void DumpWriter::write(const DumpRecord& r) {
  out_ << to_json(r).dump() << '\n';
  if (!out_) throw std::runtime_error(path_ + ": write failed");
}

void DumpWriter::write(const std::string& frame, AgentId ego, const FrameEval& ev) {
  write(DumpRecord{frame, ego, ev.detections, ev.gt, ev.gt_points});
}

void DumpWriter::flush() { out_.flush(); }

std::vector<DumpRecord> read_dump(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open dump file");
  std::vector<DumpRecord> out;
  std::string line;
  int line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      out.push_back(dump_record_from_json(nlohmann::json::parse(line)));
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": " + e.what());
    }
  }
  return out;
}

ApSummary evaluate_dump(const std::string& path, const EvalConfig& cfg) {
  ApEvaluator ev(cfg);
  for (const DumpRecord& r : read_dump(path)) ev.add_frame(r.detections, r.gt, r.gt_points);
  return ev.summary();
}

}  // namespace v2x::detection
