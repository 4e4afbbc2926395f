#pragma once
// The pillar feature net's CPU inference kernel in plain C++ (no LibTorch), compiled with -O3 on its own
// (encoder/CMakeLists.txt): the project's -O2 leaves its loops over a run-time channel count scalar, ~5× slower.
#include <cstdint>

namespace v2x::encoder {

// For each pillar run (maximal run of equal ix): relu(wt · x + shift) per point, max over the run, max into out at
// the run's cell (out starts at 0; ReLU and max in one comparison, so a cell split over several runs is fine).
//   feat  (M, kPointFeatures)   ix (M) flat cell b * hw + iy * W + ix
//   wt    (kPointFeatures, C)   linear weight with the BatchNorm scale folded in; shift (C)
//   out   (B, C, hw)            cells = B * hw; an ix outside [0, cells) is skipped
void pillar_runs_max(const float* feat, const std::int64_t* ix, std::int64_t M, const float* wt, const float* shift,
                     std::int64_t C, std::int64_t hw, std::int64_t cells, float* out);

}  // namespace v2x::encoder
