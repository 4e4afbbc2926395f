// v2x_sim: the multi-agent simulator driver.
//   v2x_sim generate --config config/sim/urban.yaml --seed 7 --frames 100 --out /data/sim [--threads 2] [--cameras]
//       writes OUT/<name>_seed<seed>/<agent id>/<timestamp>.{yaml,pcd[,_camera<N>.png]} (OPV2V layout; OUT is the
//       split folder), a progress bar with ETA on stderr.
//   v2x_sim render --config config/sim/urban.yaml --seed 7 --frame 10 --out bev.png [--range 70] [--cameras]
//       writes a BEV picture of frame K (each agent's points in its own colour, GT boxes, agents, occluders) and,
//       with --cameras, the ego's camera images next to it (<out stem>_camera<N>.png).
//   v2x_sim run --preset tiny --nodes 4 --frames 50 --report r.json --viz bev/   (run.cpp: live v2x_node fleet)
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "run.hpp"
#include "v2x/apps/cli.hpp"
#include "v2x/apps/config_yaml.hpp"
#include "v2x/sensors/opv2v.hpp"
#include "v2x/sim/simulator.hpp"

namespace fs = std::filesystem;
using namespace v2x;
namespace po = boost::program_options;

namespace {

struct Common {
  sim::SimConfig cfg;
  std::string cfg_file;
  std::uint64_t seed = 0;
  int threads = 1;
};

void add_sim_options(po::options_description& d) {
  d.add_options()("config", po::value<std::string>(), "simulator config YAML (config/sim/*.yaml)")(
      "preset", po::value<std::string>(), "built-in config instead of --config: urban|suburban|highway|tiny")(
      "seed", po::value<std::uint64_t>()->default_value(0), "world seed (output depends only on config + seed)")(
      "threads", po::value<int>()->default_value(1), "ray-casting threads (does not change the output)")(
      "cameras", po::bool_switch(), "render the cameras (overrides agents.cameras.enabled)")(
      "sensors", po::value<std::string>(),
      "per-agent sensor rig in agent order (CAVs, ego first, then RSUs), e.g. lidar+camera,camera,lidar,lidar "
      "(overrides agents.sensors; auto|lidar|camera|lidar+camera)")(
      "camera-size", po::value<std::string>(), "WxH: rendered camera size (overrides agents.cameras width/height)")(
      "compact-fleet", po::bool_switch(),
      "every connected agent near the ego: CAVs spawn within 30 m of the focus (highway 70 m), 0.5 s warm-up "
      "(overrides agents.spawn_radius_m and traffic.warmup_s)");
}

Common load_common(const po::variables_map& vm) {
  Common c;
  if (vm.count("config") == vm.count("preset")) throw apps::UsageError("give exactly one of --config and --preset");
  if (vm.count("config")) {
    c.cfg_file = vm["config"].as<std::string>();
    c.cfg = apps::load_config<sim::SimConfig>(c.cfg_file);
  } else {
    try {
      c.cfg = sim::preset(vm["preset"].as<std::string>());
    } catch (const std::invalid_argument& e) {
      throw apps::UsageError(std::string("--preset: ") + e.what());
    }
    c.cfg_file = "preset " + vm["preset"].as<std::string>();
  }
  c.seed = vm["seed"].as<std::uint64_t>();
  c.threads = vm["threads"].as<int>();
  if (c.threads < 1 || c.threads > 256) throw apps::UsageError("--threads must be in [1, 256]");
  if (vm["cameras"].as<bool>()) c.cfg.agents.cameras.enabled = true;
  if (vm["compact-fleet"].as<bool>()) sim::make_fleet_compact(c.cfg);
  if (vm.count("sensors")) {
    c.cfg.agents.sensors.clear();
    std::stringstream in(vm["sensors"].as<std::string>());
    for (std::string item; std::getline(in, item, ',');) {
      const auto& names = EnumNames<SensorSet>::names;
      const auto it = std::find(names.begin(), names.end(), item);
      if (it == names.end())
        throw apps::UsageError("--sensors: unknown sensor set '" + item + "' (choose " + enum_choices<SensorSet>() + ")");
      c.cfg.agents.sensors.push_back(static_cast<SensorSet>(it - names.begin()));
    }
  }
  if (vm.count("camera-size")) {
    int w = 0, h = 0;
    char x = 0;
    std::istringstream in(vm["camera-size"].as<std::string>());
    if (!(in >> w >> x >> h) || x != 'x') throw apps::UsageError("--camera-size: expected WxH, e.g. 200x150");
    c.cfg.agents.cameras.width = w, c.cfg.agents.cameras.height = h;
  }
  try {
    validate_config(c.cfg, c.cfg_file + " + command line");
  } catch (const ConfigError& e) {
    throw apps::UsageError(e.what());
  }
  return c;
}

// Builds the simulator; errors found while building the town (capacity) name the config file too.
std::unique_ptr<sim::Simulator> make_sim(const Common& c) {
  try {
    auto s = std::make_unique<sim::Simulator>(c.cfg, c.seed);
    s->set_threads(c.threads);
    return s;
  } catch (const ConfigError& e) {
    if (!e.file().empty()) throw;
    std::string msg = e.what();
    const auto pos = msg.find("': ");
    throw ConfigError(c.cfg_file, e.key(), pos == std::string::npos ? msg : msg.substr(pos + 3));
  }
}

std::string fmt_duration(double s) {
  char b[32];
  if (s >= 3600) std::snprintf(b, sizeof(b), "%dh%02dm", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  else if (s >= 60) std::snprintf(b, sizeof(b), "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  else std::snprintf(b, sizeof(b), "%.0fs", s);
  return b;
}

int generate(int argc, const char* const* argv) {
  po::options_description d("v2x_sim generate");
  apps::add_common_options(d);
  add_sim_options(d);
  d.add_options()("frames", po::value<int>()->default_value(100), "frames to write (10 Hz)")(
      "out", po::value<std::string>(), "output split folder; the scenario goes to OUT/<name>_seed<seed>/")(
      "no-progress", po::bool_switch(), "no progress bar");
  po::variables_map vm;
  if (!apps::parse_command_line(argc, argv, d, vm,
                                "usage: v2x_sim generate (--config FILE | --preset NAME) --seed N --frames N --out DIR"))
    return 0;
  if (!vm.count("out")) throw apps::UsageError("--out is required");
  const int frames = vm["frames"].as<int>();
  if (frames < 1) throw apps::UsageError("--frames must be ≥ 1");
  Common c = load_common(vm);
  auto simulator = make_sim(c);
  const fs::path out = vm["out"].as<std::string>();
  fs::create_directories(out);
  const bool progress = !vm["no-progress"].as<bool>();
  sensors::Opv2vWriteOptions wo;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t points = 0;
  for (int k = 0; k < frames; ++k) {
    const CoopFrame f = simulator->step();
    for (const auto& a : f.agents) points += a.cloud.size();
    sensors::write_opv2v_frame(f, out, wo);
    if (progress) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double per = el / (k + 1);
      const int width = 30, filled = static_cast<int>(width * (k + 1) / frames);
      std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] " << (k + 1) << "/" << frames
                << " frames  " << fmt_duration(el) << " elapsed  ETA " << fmt_duration(per * (frames - k - 1)) << "   "
                << std::flush;
    }
  }
  if (progress) std::cerr << "\n";
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("wrote {} frames × {} agents ({} points) to {} in {:.1f} s", frames, simulator->agent_count(), points,
               (out / simulator->scenario_name()).string(), el);
  return 0;
}

// ---- render ------------------------------------------------------------------------------------------------

cv::Scalar agent_color(std::size_t k) {
  static const cv::Scalar c[] = {{60, 200, 255}, {255, 140, 60}, {120, 255, 120}, {255, 90, 255},
                                 {90, 160, 255}, {255, 255, 90}, {200, 200, 200}, {150, 110, 255}};  // BGR
  return c[k % 8];
}

int render(int argc, const char* const* argv) {
  po::options_description d("v2x_sim render");
  apps::add_common_options(d);
  add_sim_options(d);
  d.add_options()("frame", po::value<int>()->default_value(0), "frame index K (0 = first)")(
      "out", po::value<std::string>(), "BEV PNG file")("range", po::value<double>()->default_value(70.0),
                                                         "half-width of the picture in metres, centred on the ego")(
      "pixels", po::value<int>()->default_value(1000), "picture size in pixels");
  po::variables_map vm;
  if (!apps::parse_command_line(argc, argv, d, vm,
                                "usage: v2x_sim render (--config FILE | --preset NAME) --seed N --frame K --out FILE.png"))
    return 0;
  if (!vm.count("out")) throw apps::UsageError("--out is required");
  const int frame = vm["frame"].as<int>();
  if (frame < 0) throw apps::UsageError("--frame must be ≥ 0");
  Common c = load_common(vm);
  auto simulator = make_sim(c);
  CoopFrame f;
  for (int k = 0; k <= frame; ++k) {
    simulator->set_cameras_enabled(k == frame);  // only the pictured frame needs images
    f = simulator->step();
  }
  const auto& world = simulator->world();
  const double range = vm["range"].as<double>();
  const int px = vm["pixels"].as<int>();
  const Eigen::Vector2d centre = f.agents.front().T_world_lidar.translation().head<2>();
  const double scale = px / (2 * range);
  auto to_px = [&](double x, double y) {
    return cv::Point(static_cast<int>(std::lround((x - centre.x()) * scale + 0.5 * px)),
                     static_cast<int>(std::lround(0.5 * px - (y - centre.y()) * scale)));
  };
  cv::Mat img(px, px, CV_8UC3, cv::Scalar(18, 18, 18));
  // Ground: roads and markings, dimmed.
  const auto& g = world.ground();
  for (int y = 0; y < px; ++y)
    for (int x = 0; x < px; ++x) {
      const double wx = centre.x() + (x + 0.5 - 0.5 * px) / scale, wy = centre.y() + (0.5 * px - y - 0.5) / scale;
      switch (g.at(wx, wy)) {
        case sim::Ground::Asphalt: img.at<cv::Vec3b>(y, x) = {38, 38, 38}; break;
        case sim::Ground::WhiteMark: img.at<cv::Vec3b>(y, x) = {70, 70, 70}; break;
        case sim::Ground::YellowMark: img.at<cv::Vec3b>(y, x) = {40, 70, 80}; break;
        case sim::Ground::Grass: img.at<cv::Vec3b>(y, x) = {22, 34, 22}; break;
        default: break;
      }
    }
  // Occluders: static primitives taller than a curb, footprint filled.
  for (const auto& p : world.static_bvh().prims()) {
    if (p.owner >= 0) continue;  // parked vehicles are drawn as GT boxes
    const float top = p.center.z() + p.half.z();
    if (top < 0.5f) continue;
    const bool foliage = p.material == sim::Material::Foliage;
    const cv::Scalar col = foliage ? cv::Scalar(40, 85, 40)
                           : p.material == sim::Material::Building ? cv::Scalar(95, 90, 85)
                                                                    : cv::Scalar(120, 120, 130);
    std::vector<cv::Point> poly;
    for (int k = 0; k < 4; ++k) {
      const float sx = (k == 0 || k == 3) ? 1.f : -1.f, sy = k < 2 ? 1.f : -1.f;
      const float lx = sx * p.half.x(), ly = sy * p.half.y();
      poly.push_back(to_px(p.center.x() + p.cos_yaw * lx - p.sin_yaw * ly, p.center.y() + p.sin_yaw * lx + p.cos_yaw * ly));
    }
    if (foliage) cv::polylines(img, poly, true, col, 1, cv::LINE_AA);
    else cv::fillConvexPoly(img, poly, col, cv::LINE_AA);
  }
  // Points, agent by agent.
  for (std::size_t k = 0; k < f.agents.size(); ++k) {
    const auto& a = f.agents[k];
    const cv::Scalar col = agent_color(k);
    for (std::size_t i = 0; i < a.cloud.size(); ++i) {
      const Eigen::Vector3d p = a.T_world_lidar * Eigen::Vector3d(a.cloud.x[i], a.cloud.y[i], a.cloud.z[i]);
      const cv::Point q = to_px(p.x(), p.y());
      if (q.x < 0 || q.y < 0 || q.x >= px || q.y >= px) continue;
      const double shade = 0.55 + 0.45 * std::min(1.0, static_cast<double>(a.cloud.intensity[i]) * 2.5);
      img.at<cv::Vec3b>(q) = cv::Vec3b(static_cast<uchar>(col[0] * shade), static_cast<uchar>(col[1] * shade),
                                       static_cast<uchar>(col[2] * shade));
    }
  }
  // GT boxes: vehicles green, cyclists/pedestrians yellow; invisible to every agent: dim.
  for (const auto& o : f.gt_world) {
    const auto c4 = o.box.bev_corners();
    std::vector<cv::Point> poly;
    for (const auto& q : c4) poly.push_back(to_px(q.x(), q.y()));
    const bool veh = is_vehicle(o.cls);
    cv::Scalar col = veh ? cv::Scalar(80, 230, 80) : cv::Scalar(60, 220, 240);
    if (o.lidar_points == 0) col *= 0.45;
    cv::polylines(img, poly, true, col, 1, cv::LINE_AA);
    const Eigen::Vector2d c = o.box.center.head<2>();
    const Eigen::Vector2d h = c + 0.5 * o.box.l_m * Eigen::Vector2d(std::cos(o.box.yaw_rad), std::sin(o.box.yaw_rad));
    cv::line(img, to_px(c.x(), c.y()), to_px(h.x(), h.y()), col, 1, cv::LINE_AA);
  }
  // Agents.
  for (std::size_t k = 0; k < f.agents.size(); ++k) {
    const auto& a = f.agents[k];
    const Eigen::Vector3d t = a.T_world_lidar.translation();
    const cv::Point q = to_px(t.x(), t.y());
    if (a.is_rsu) {
      std::vector<cv::Point> tri = {q + cv::Point(0, -9), q + cv::Point(-8, 6), q + cv::Point(8, 6)};
      cv::fillConvexPoly(img, tri, agent_color(k), cv::LINE_AA);
    } else {
      cv::circle(img, q, 7, agent_color(k), -1, cv::LINE_AA);
    }
    cv::circle(img, q, 8, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
    cv::putText(img, (k == 0 ? "ego " : a.is_rsu ? "RSU " : "CAV ") + std::to_string(a.id), q + cv::Point(11, -8),
                cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  }
  cv::putText(img, f.scenario + "  frame " + f.timestamp + "  " + std::to_string(2 * static_cast<int>(range)) + " m across",
              cv::Point(10, 22), cv::FONT_HERSHEY_SIMPLEX, 0.55, cv::Scalar(230, 230, 230), 1, cv::LINE_AA);
  const fs::path out = vm["out"].as<std::string>();
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  if (!cv::imwrite(out.string(), img)) throw std::runtime_error("cannot write " + out.string());
  spdlog::info("wrote {}", out.string());
  for (const auto& cam : f.agents.front().cameras) {
    const auto& im = cam.image;
    cv::Mat m(im.height, im.width, CV_8UC3, const_cast<std::uint8_t*>(im.rgb.data()));
    cv::Mat bgr;
    cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
    const fs::path p = out.parent_path() / (out.stem().string() + "_" + cam.name + ".png");
    if (!cv::imwrite(p.string(), bgr, {cv::IMWRITE_PNG_COMPRESSION, 9})) throw std::runtime_error("cannot write " + p.string());
    spdlog::info("wrote {}", p.string());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return apps::run_main("v2x_sim", [&]() -> int {
    const std::string usage =
        "usage: v2x_sim generate|render|run [options]   (v2x_sim <command> --help for the options)";
    if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
      std::cout << usage << "\n";
      return argc < 2 ? 2 : 0;
    }
    const std::string cmd = argv[1];
    if (cmd == "generate") return generate(argc - 1, argv + 1);
    if (cmd == "render") return render(argc - 1, argv + 1);
    if (cmd == "run") return simrun::run_command(argc - 1, argv + 1);  // run.cpp: live v2x_node fleet
    throw apps::UsageError("unknown command '" + cmd + "' (" + usage + ")");
  });
}
