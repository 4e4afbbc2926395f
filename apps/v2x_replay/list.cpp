#include "list.hpp"

#include <chrono>
#include <map>
#include <ostream>
#include <string>

namespace v2x::replay {

namespace {
struct ScenarioStats {
  std::size_t frames = 0;
  double agents = 0, boxes = 0, points = 0;
};
}  // namespace

ListSummary list_dataset(const sensors::CoopDataset& ds, const std::filesystem::path& root, const ListOptions& opt,
                         std::ostream& out, std::ostream& err) {
  ListSummary s;
  s.frames = ds.size();
  out << "dataset " << root.string() << " format " << ds.format() << " frames " << ds.size() << "\n";
  std::map<std::string, ScenarioStats> per_scenario;
  std::vector<std::string> order;
  auto last_progress = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  bool progress_shown = false;
  auto clear_progress = [&] {
    if (progress_shown) {
      err << "\r\033[K" << std::flush;
      progress_shown = false;
    }
  };
  for (std::size_t i = 0; i < ds.size(); ++i) {
    const auto now = std::chrono::steady_clock::now();
    if (opt.progress && now - last_progress > std::chrono::milliseconds(200)) {
      err << "\r[" << i << "/" << ds.size() << "] " << ds.ref(i).scenario << "/" << ds.ref(i).timestamp << "\033[K" << std::flush;
      progress_shown = true;
      last_progress = now;
    }
    auto f = ds.load(i);
    if (!f) {
      clear_progress();
      err << "skipped frame " << ds.ref(i).scenario << "/" << ds.ref(i).timestamp << ": " << f.error().message << "\n";
      ++s.skipped;
      continue;
    }
    ++s.loaded;
    std::size_t points = 0, vehicles = 0;
    for (const auto& a : f->agents) points += a.cloud.size();
    for (const auto& o : f->gt_world) vehicles += is_vehicle(o.cls) ? 1 : 0;
    if (!per_scenario.count(f->scenario)) order.push_back(f->scenario);
    auto& st = per_scenario[f->scenario];
    ++st.frames;
    st.agents += static_cast<double>(f->agents.size());
    st.boxes += static_cast<double>(f->gt_world.size());
    st.points += static_cast<double>(points);
    if (opt.per_frame) {
      clear_progress();
      out << "frame " << f->scenario << "/" << f->timestamp << " ego " << f->ego << " agents " << f->agents.size() << " [";
      for (std::size_t k = 0; k < f->agents.size(); ++k)
        out << (k ? " " : "") << f->agents[k].id << ":" << f->agents[k].cloud.size() << (f->agents[k].is_rsu ? ":rsu" : "");
      out << "] boxes " << f->gt_world.size() << " (vehicles " << vehicles << ") points " << points << "\n";
    }
  }
  clear_progress();
  for (const auto& name : order) {
    const auto& st = per_scenario[name];
    const double n = static_cast<double>(st.frames);
    out << "scenario " << name << " frames " << st.frames << " mean_agents " << st.agents / n << " mean_boxes "
        << st.boxes / n << " mean_points " << st.points / n << "\n";
  }
  out << "summary scenarios " << order.size() << " frames " << s.frames << " loaded " << s.loaded << " skipped " << s.skipped
      << "\n";
  return s;
}

}  // namespace v2x::replay
