#include "pillar_kernel.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "v2x/encoder/pillarizer.hpp"

namespace v2x::encoder {
namespace {

// Channel count known at compile time (kC > 0): accumulators stay in vector registers. kC == 0: run-time C.
template <int kC>
__attribute__((target_clones("avx2", "default"))) void runs_max(const float* feat, const std::int64_t* ix,
                                                                  std::int64_t M, const float* wt, const float* shift,
                                                                  std::int64_t C_rt, std::int64_t hw,
                                                                  std::int64_t cells, float* out) {
  constexpr std::int64_t F = kPointFeatures;
  const std::int64_t C = kC > 0 ? kC : C_rt;
  std::vector<float> acc_v(kC > 0 ? 0 : static_cast<std::size_t>(C)), mx_v(acc_v.size());
  std::array<float, (kC > 0 ? kC : 1)> acc_a{}, mx_a{};
  float* __restrict acc = kC > 0 ? acc_a.data() : acc_v.data();
  float* __restrict mx = kC > 0 ? mx_a.data() : mx_v.data();
  std::int64_t m = 0;
  while (m < M) {
    const std::int64_t cell = ix[m];
    for (std::int64_t c = 0; c < C; ++c) mx[c] = 0.f;
    for (; m < M && ix[m] == cell; ++m) {
      const float* x = feat + m * F;
      for (std::int64_t c = 0; c < C; ++c) acc[c] = shift[c];
      for (std::int64_t f = 0; f < F; ++f) {
        const float xv = x[f];
        const float* __restrict w = wt + f * C;
        for (std::int64_t c = 0; c < C; ++c) acc[c] += w[c] * xv;
      }
      for (std::int64_t c = 0; c < C; ++c) mx[c] = acc[c] > mx[c] ? acc[c] : mx[c];
    }
    if (cell < 0 || cell >= cells) continue;  // cannot happen for Pillarizer output
    float* o = out + (cell / hw) * C * hw + cell % hw;
    for (std::int64_t c = 0; c < C; ++c) o[c * hw] = std::max(mx[c], o[c * hw]);
  }
}

}  // namespace

void pillar_runs_max(const float* feat, const std::int64_t* ix, std::int64_t M, const float* wt, const float* shift,
                     std::int64_t C, std::int64_t hw, std::int64_t cells, float* out) {
  switch (C) {
    case 16: return runs_max<16>(feat, ix, M, wt, shift, C, hw, cells, out);
    case 32: return runs_max<32>(feat, ix, M, wt, shift, C, hw, cells, out);
    case 64: return runs_max<64>(feat, ix, M, wt, shift, C, hw, cells, out);
    default: return runs_max<0>(feat, ix, M, wt, shift, C, hw, cells, out);
  }
}

}  // namespace v2x::encoder
