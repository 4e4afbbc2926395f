#pragma once
// Seeded randomness: every random decision in v2x goes through a SplitMix64-seeded std::mt19937_64 so
// that (config, seed) reproduces results bit-for-bit across runs and platforms (we avoid std::*_distribution
// for values that feed outputs, as their algorithms differ between standard libraries).
#include <cmath>
#include <cstdint>

namespace v2x {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  std::uint64_t next_u64() {  // SplitMix64
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int uniform_int(int lo, int hi_inclusive) {
    return lo + static_cast<int>(next_u64() % static_cast<std::uint64_t>(hi_inclusive - lo + 1));
  }
  bool bernoulli(double p) { return uniform() < p; }
  double normal(double mean = 0.0, double stddev = 1.0) {  // Box–Muller, deterministic
    double u1 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double u2 = uniform();
    return mean + stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Independent stream derived from this seed and a salt (e.g. agent id, frame index).
  Rng fork(std::uint64_t salt) const { return Rng(s_ ^ (salt * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull)); }

 private:
  std::uint64_t s_;
};

}  // namespace v2x
