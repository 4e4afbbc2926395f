#pragma once
// Shared helpers for the sensors tests: temporary folders, synthetic frames, the realdata location.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "v2x/core/frame.hpp"
#include "v2x/core/rng.hpp"

namespace v2x::sensors::test {

namespace fs = std::filesystem;

// A fresh temporary folder removed at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("v2x_sensors_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// ../shared/realdata relative to the repo root (tests run there).
inline fs::path realdata() { return fs::path("..") / "shared" / "realdata"; }
#define V2X_REQUIRE_REALDATA(sub)                                                              \
  if (!std::filesystem::exists(::v2x::sensors::test::realdata() / (sub)))                      \
  GTEST_SKIP() << "../shared/realdata/" << (sub) << " absent"

inline PointCloud random_cloud(Rng& rng, int n, bool with_time = false) {
  PointCloud c;
  for (int i = 0; i < n; ++i)
    c.push_back(static_cast<float>(rng.uniform(-50, 50)), static_cast<float>(rng.uniform(-50, 50)),
                static_cast<float>(rng.uniform(-2, 3)), static_cast<float>(rng.uniform(0, 1)));
  if (with_time) {
    c.time_s = std::vector<double>();
    for (int i = 0; i < n; ++i) c.time_s->push_back(rng.uniform(0, 0.1));
  }
  return c;
}

inline Object3D random_object(Rng& rng, std::int64_t id, const Eigen::Vector3d& near) {
  Object3D o;
  o.id = id;
  o.cls = ObjectClass::Car;
  o.box.center = near + Eigen::Vector3d(rng.uniform(-30, 30), rng.uniform(-30, 30), rng.uniform(0.5, 1.0));
  o.box.l_m = rng.uniform(3.5, 5.0);
  o.box.w_m = rng.uniform(1.6, 2.1);
  o.box.h_m = rng.uniform(1.4, 1.9);
  o.box.yaw_rad = rng.uniform(-3.14159, 3.14159);
  o.lidar_points = rng.uniform_int(0, 500);
  return o;
}

}  // namespace v2x::sensors::test
