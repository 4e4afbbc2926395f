// v2x_replay_compare: turns v2x_replay reports (--report JSON) into the comparison table (Markdown) and a PNG plot
// of AP@0.7 against bytes per message. Used by scripts/compare_fusion.sh.
//
//   v2x_replay_compare --table out.md --plot out.png  LABEL=report.json [LABEL=report.json ...]
//
// A small C++ tool with OpenCV (already a dependency) rather than matplotlib: no new package on the dev machine,
// and the picture is deterministic for the same reports.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "v2x/apps/cli.hpp"

namespace {

struct Row {
  std::string label;
  nlohmann::json j;
  double ap(const char* thr) const { return j.at("ap").at(thr).get<double>(); }
  double bytes() const { return j.at("bytes_per_message").at("mean").get<double>(); }
  double ms(const char* stage) const {
    const auto& l = j.at("latency_ms");
    return l.contains(stage) ? l.at(stage).at("median").get<double>() : 0.0;
  }
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string human_bytes(double b) {
  if (b <= 0) return "0";
  if (b < 1024) return fmt("%.0f B", b);
  if (b < 1024 * 1024) return fmt("%.1f KB", b / 1024);
  return fmt("%.2f MB", b / (1024 * 1024));
}

void write_table(const std::vector<Row>& rows, const std::string& file) {
  std::ofstream out(file);
  if (!out) throw std::runtime_error(file + ": cannot write");
  out << "| run | method | AP@0.3 | AP@0.5 | AP@0.7 | bytes/msg mean | p95 | encode | select | pack | decode | fuse | "
         "detect | total | dropped (stale/corrupt/unauth) |\n";
  out << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Row& r : rows) {
    out << "| " << r.label << " | " << r.j.at("method").get<std::string>() << " | " << fmt("%.3f", r.ap("0.3"))
        << " | " << fmt("%.3f", r.ap("0.5")) << " | " << fmt("%.3f", r.ap("0.7")) << " | " << human_bytes(r.bytes())
        << " | " << human_bytes(r.j.at("bytes_per_message").at("p95").get<double>());
    for (const char* s : {"encode", "select", "pack", "decode", "fuse", "detect", "total"})
      out << " | " << fmt("%.1f", r.ms(s));
    const auto& d = r.j.at("dropped");
    out << " | " << d.at("stale").get<long long>() << "/" << d.at("corrupt").get<long long>() << "/"
        << d.at("unauthenticated").get<long long>() << " |\n";
  }
  out << "\nLatencies are medians in milliseconds per ego frame (the ego's own stages; `fuse` includes the detection "
         "head re-run on fused maps and the final NMS). Bytes per message are counted on the wire, over every "
         "agent's messages.\n";
}

void write_plot(const std::vector<Row>& rows, const std::string& file) {
  const int W = 900, H = 560, L = 80, R = 30, T = 40, B = 70;
  cv::Mat img(H, W, CV_8UC3, cv::Scalar(255, 255, 255));
  // x: log10(bytes) over the reports' range, with "0 B" (no message) drawn at the left edge.
  double lo = 1e9, hi = 1;
  for (const Row& r : rows)
    if (r.bytes() > 0) lo = std::min(lo, r.bytes()), hi = std::max(hi, r.bytes());
  if (lo > hi) lo = 100, hi = 1e6;
  const double x0 = std::floor(std::log10(lo)) - 0.3, x1 = std::ceil(std::log10(hi)) + 0.1;
  auto X = [&](double bytes) {
    const double lx = bytes > 0 ? std::log10(bytes) : x0;
    return L + static_cast<int>((lx - x0) / (x1 - x0) * (W - L - R));
  };
  auto Y = [&](double ap) { return H - B - static_cast<int>(ap * (H - T - B)); };
  const cv::Scalar grey(210, 210, 210), black(0, 0, 0);
  for (int k = 0; k <= 10; ++k) {
    const int y = Y(k / 10.0);
    cv::line(img, {L, y}, {W - R, y}, grey, 1);
    cv::putText(img, fmt("%.1f", k / 10.0), {L - 40, y + 5}, cv::FONT_HERSHEY_SIMPLEX, 0.45, black, 1, cv::LINE_AA);
  }
  for (int e = static_cast<int>(std::ceil(x0)); e <= static_cast<int>(std::floor(x1)); ++e) {
    const int x = X(std::pow(10.0, e));
    cv::line(img, {x, T}, {x, H - B}, grey, 1);
    static const char* kTicks[] = {"1 B", "10 B", "100 B", "1 kB", "10 kB", "100 kB", "1 MB", "10 MB", "100 MB"};
    const std::string tick = e >= 0 && e <= 8 ? kTicks[e] : fmt("1e%.0f B", e);
    cv::putText(img, tick, {x - 18, H - B + 20}, cv::FONT_HERSHEY_SIMPLEX, 0.45, black, 1, cv::LINE_AA);
  }
  cv::rectangle(img, {L, T}, {W - R, H - B}, black, 1);
  cv::putText(img, "bytes per message on the wire (log scale; no message at the left edge)", {L + 110, H - 25},
              cv::FONT_HERSHEY_SIMPLEX, 0.55, black, 1, cv::LINE_AA);
  cv::putText(img, "AP@0.7", {10, T - 12}, cv::FONT_HERSHEY_SIMPLEX, 0.55, black, 1, cv::LINE_AA);
  const std::map<std::string, cv::Scalar> colour{{"none", {80, 80, 80}},  {"late", {0, 140, 255}},
                                                 {"early", {160, 0, 160}}, {"max", {200, 120, 0}},
                                                 {"attn", {0, 160, 0}},     {"anchor", {0, 0, 220}}};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const std::string m = r.j.at("method").get<std::string>();
    const cv::Scalar c = colour.count(m) ? colour.at(m) : black;
    const cv::Point p(X(r.bytes()), Y(r.ap("0.7")));
    cv::circle(img, p, 6, c, cv::FILLED, cv::LINE_AA);
    // Labels alternate above / below their point so that neighbours (same method, other budgets) stay readable.
    const cv::Point off = i % 2 == 0 ? cv::Point(8, -8) : cv::Point(8, 18);
    cv::putText(img, r.label, p + off, cv::FONT_HERSHEY_SIMPLEX, 0.42, c, 1, cv::LINE_AA);
  }
  if (!cv::imwrite(file, img)) throw std::runtime_error(file + ": cannot write PNG");
}

}  // namespace

int main(int argc, char** argv) {
  return v2x::apps::run_main("v2x_replay_compare", [&]() -> int {
    namespace po = v2x::apps::po;
    po::options_description desc("v2x_replay_compare options");
    v2x::apps::add_common_options(desc);
    desc.add_options()("table", po::value<std::string>(), "write the Markdown table here")(
        "plot", po::value<std::string>(), "write the PNG plot (AP@0.7 vs bytes per message) here")(
        "runs", po::value<std::vector<std::string>>()->multitoken(), "LABEL=report.json ...");
    po::positional_options_description pos;
    pos.add("runs", -1);
    po::variables_map vm;
    if (!v2x::apps::parse_command_line(argc, argv, desc, vm,
                                       "usage: v2x_replay_compare --table T.md --plot P.png LABEL=report.json ...",
                                       &pos))
      return 0;
    if (!vm.count("runs")) throw v2x::apps::UsageError("give at least one LABEL=report.json");
    std::vector<Row> rows;
    for (const std::string& run : vm["runs"].as<std::vector<std::string>>()) {
      const auto eq = run.find('=');
      if (eq == std::string::npos) throw v2x::apps::UsageError("'" + run + "': expected LABEL=report.json");
      std::ifstream in(run.substr(eq + 1));
      if (!in) throw v2x::apps::UsageError(run.substr(eq + 1) + ": cannot read");
      Row r{run.substr(0, eq), nlohmann::json::parse(in, nullptr, false)};
      if (r.j.is_discarded() || !r.j.contains("ap") || !r.j.contains("bytes_per_message"))
        throw v2x::apps::UsageError(run.substr(eq + 1) + ": not a v2x report");
      rows.push_back(std::move(r));
    }
    if (vm.count("table")) write_table(rows, vm["table"].as<std::string>());
    if (vm.count("plot")) write_plot(rows, vm["plot"].as<std::string>());
    return 0;
  });
}
