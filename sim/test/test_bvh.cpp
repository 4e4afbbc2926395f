#include <gtest/gtest.h>

#include <cmath>

#include "v2x/core/rng.hpp"
#include "v2x/sim/bvh.hpp"

using namespace v2x::sim;

namespace {
std::vector<BoxPrim> random_boxes(v2x::Rng& rng, int n) {
  std::vector<BoxPrim> prims;
  for (int i = 0; i < n; ++i)
    prims.push_back(BoxPrim::make({rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(0, 10)},
                                  {rng.uniform(0.2, 8), rng.uniform(0.2, 8), rng.uniform(0.2, 6)},
                                  i % 2 ? rng.uniform(-3.2, 3.2) : 0.0,  // half axis-aligned (fast path)
                                  Material::Building, i % 7));
  return prims;
}
Ray random_ray(v2x::Rng& rng) {
  Ray r;
  r.origin = Eigen::Vector3f(rng.uniform(-70, 70), rng.uniform(-70, 70), rng.uniform(-2, 12));
  Eigen::Vector3f d(rng.normal(), rng.normal(), rng.normal());
  if (rng.bernoulli(0.1)) d.z() = 0;  // exactly horizontal rays exercise the zero-component path
  r.dir = d.normalized();
  return r;
}
}  // namespace

TEST(Bvh, NearestHitMatchesBruteForceOnRandomRays) {
  v2x::Rng rng(11);
  const auto prims = random_boxes(rng, 400);
  Bvh bvh(prims);
  int hits = 0;
  for (int k = 0; k < 4000; ++k) {
    const Ray ray = random_ray(rng);
    float best = 200.f;
    int best_i = -1;
    Eigen::Vector3f best_n = Eigen::Vector3f::Zero();
    for (std::size_t i = 0; i < prims.size(); ++i) {
      float t;
      Eigen::Vector3f n;
      if (intersect_box(prims[i], ray, 0.f, best, t, n)) best = t, best_i = static_cast<int>(i), best_n = n;
    }
    const Hit h = bvh.intersect(ray, 0.f, 200.f);
    ASSERT_EQ(h.valid(), best_i >= 0) << "ray " << k;
    if (best_i < 0) continue;
    ++hits;
    EXPECT_NEAR(h.t, best, 1e-3f) << "ray " << k;
    if (std::abs(h.t - best) < 1e-5f) {
      EXPECT_LT((h.normal - best_n).norm(), 1e-4f) << "ray " << k;
    }
    EXPECT_TRUE((bvh.prims()[h.prim].center - prims[best_i].center).norm() < 1e-5f ||
                std::abs(h.t - best) < 1e-5f);
    EXPECT_LE(h.normal.dot(ray.dir), 1e-6f);  // faces the ray
    EXPECT_EQ(bvh.occluded(ray, 0.f, 200.f), true);
  }
  EXPECT_GT(hits, 500);  // the test really exercises hits
}

TEST(Bvh, IgnoresPrimitivesOfTheGivenOwner) {
  std::vector<BoxPrim> prims = {BoxPrim::make({5, 0, 0}, {1, 1, 1}, 0, Material::Paint, 42),
                                BoxPrim::make({10, 0, 0}, {1, 1, 1}, 0, Material::Building, -1)};
  Bvh bvh(prims);
  Ray r;
  r.origin = {0, 0, 0};
  r.dir = {1, 0, 0};
  EXPECT_NEAR(bvh.intersect(r, 0, 100).t, 4.5f, 1e-5f);
  EXPECT_NEAR(bvh.intersect(r, 0, 100, 42).t, 9.5f, 1e-5f);
}

TEST(Bvh, WallOccludesEverythingBehindIt) {
  // A wall between the sensor and a car: the car is never the first hit of any ray through the wall.
  std::vector<BoxPrim> prims = {BoxPrim::make({10, 0, 2}, {0.3, 20, 4}, 0, Material::Wall, -1),
                                BoxPrim::make({15, 0, 0.75}, {4.5, 1.8, 1.5}, 0.3, Material::Paint, 7)};
  Bvh bvh(prims);
  v2x::Rng rng(3);
  for (int k = 0; k < 2000; ++k) {
    Ray r;
    r.origin = {0, 0, 1.9f};
    r.dir = (Eigen::Vector3f(15, static_cast<float>(rng.uniform(-1, 1)), static_cast<float>(rng.uniform(0, 1.5))) - r.origin)
                .normalized();
    const Hit h = bvh.intersect(r, 0, 100);
    ASSERT_TRUE(h.valid());
    EXPECT_EQ(bvh.prims()[h.prim].owner, -1);
    EXPECT_LT(h.t, 10.5f);
  }
}

TEST(Bvh, RotatedBoxHitDistanceIsExact) {
  // A box rotated 45°: the ray along +x hits the corner edge at x = c - half_diagonal.
  BoxPrim p = BoxPrim::make({10, 0, 0}, {2, 2, 2}, 0.7853981633974483, Material::Wall);
  Ray r;
  r.origin = {0, 0, 0};
  r.dir = {1, 0, 0};
  float t;
  Eigen::Vector3f n;
  ASSERT_TRUE(intersect_box(p, r, 0, 100, t, n));
  EXPECT_NEAR(t, 10.f - std::sqrt(2.f), 1e-4f);
}

TEST(Bvh, EmptyTreeReturnsNoHit) {
  Bvh bvh;
  Ray r;
  EXPECT_FALSE(bvh.intersect(r, 0, 100).valid());
  EXPECT_FALSE(bvh.occluded(r, 0, 100));
}
