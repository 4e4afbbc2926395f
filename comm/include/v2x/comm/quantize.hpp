#pragma once
// Per-channel quantization of feature values (wire format v1, docs/wire-format.md §values).
// Pure C++ (target v2x_comm_quant, depends on v2x::core only) so that the GPU trainer can simulate exactly
// what the receiver will see with `fake_quantize`.
//
// Affine scheme, per column c of a (rows, cols) matrix:
//   q = clamp(round(x / scale_c) + zero_point_c, 0, qmax),   x' = scale_c * (q - zero_point_c)
// qmax = 255 (INT8) or 15 (INT4). The range is [min(0, lo_c), max(0, hi_c)] so 0 is exact (ReLU features
// keep their zeros). FP16 is IEEE binary16 (round to nearest even); FP32 is exact.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "v2x/core/sparse_features.hpp"

namespace v2x::comm {

struct ChannelQuant {
  float scale = 1.f;            // > 0, finite
  std::uint8_t zero_point = 0;  // in [0, qmax]
};

// 255 for Int8, 15 for Int4, 0 for the float modes.
int quant_max(Quantization q);
bool is_integer_quant(Quantization q);

// Per-column parameters of a (rows, cols) row-major float32 matrix; non-finite values are ignored.
std::vector<ChannelQuant> fit_channel_quant(std::span<const float> values, std::size_t rows, std::size_t cols,
                                            Quantization q);

inline std::uint8_t quantize_one(float x, ChannelQuant p, int qmax) {
  if (!(x == x)) x = 0.f;  // NaN → 0
  float v = x / p.scale + static_cast<float>(p.zero_point);
  v = v < 0.f ? 0.f : (v > static_cast<float>(qmax) ? static_cast<float>(qmax) : v);
  return static_cast<std::uint8_t>(v + 0.5f);  // v ≥ 0: round half up
}
inline float dequantize_one(std::uint8_t q, ChannelQuant p) {
  return p.scale * (static_cast<float>(q) - static_cast<float>(p.zero_point));
}

// IEEE binary16 conversion (hand-written: C++20 has no std::float16_t and Debian 12's GCC/Clang differ in
// _Float16 support). Round to nearest even; overflow → ±inf; NaN stays NaN.
std::uint16_t float_to_half(float f);
float half_to_float(std::uint16_t h);

// Quantize + dequantize in place: the values the receiver decodes for this matrix (rows, cols) sent with `q`.
// The trainer uses this to train with the wire's quantization in the loop.
void fake_quantize(std::span<float> values, std::size_t rows, std::size_t cols, Quantization q);

// Cosine similarity of two equally long vectors; 1 when both are (near) zero, 0 when only one is.
double cosine_similarity(std::span<const float> a, std::span<const float> b);

}  // namespace v2x::comm
