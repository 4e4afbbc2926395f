#include "v2x/comm/quantize.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <limits>

namespace v2x::comm {

int quant_max(Quantization q) {
  switch (q) {
    case Quantization::Int8: return 255;
    case Quantization::Int4: return 15;
    default: return 0;
  }
}
bool is_integer_quant(Quantization q) { return q == Quantization::Int8 || q == Quantization::Int4; }

std::vector<ChannelQuant> fit_channel_quant(std::span<const float> values, std::size_t rows, std::size_t cols,
                                            Quantization q) {
  assert(values.size() == rows * cols);
  const int qmax = quant_max(q);
  std::vector<ChannelQuant> out(cols);
  if (qmax == 0) return out;
  std::vector<float> lo(cols, 0.f), hi(cols, 0.f);  // range always contains 0
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = values.data() + r * cols;
    for (std::size_t c = 0; c < cols; ++c) {
      const float v = row[c];
      if (!std::isfinite(v)) continue;
      lo[c] = std::min(lo[c], v);
      hi[c] = std::max(hi[c], v);
    }
  }
  const auto params_for = [&](std::size_t c, float ratio) {
    ChannelQuant p;
    float scale = (hi[c] - lo[c]) * ratio / static_cast<float>(qmax);
    if (!(scale > std::numeric_limits<float>::min()) || !std::isfinite(scale)) scale = 1.f;
    p.scale = scale;
    p.zero_point = static_cast<std::uint8_t>(std::clamp(std::round(-lo[c] * ratio / scale), 0.f, static_cast<float>(qmax)));
    return p;
  };
  // INT8: the full range. INT4: 15 levels are coarse, so the range is clipped to the ratio (of 1.0, 0.95, …,
  // 0.7) that minimises the column's squared error — outliers saturate, the bulk gets a finer step. The error is
  // evaluated on at most kMaxRows evenly strided rows (bounded encode time).
  constexpr int kClipSteps = 7;
  constexpr std::size_t kMaxRows = 128;
  const std::size_t stride = rows > kMaxRows ? (rows + kMaxRows - 1) / kMaxRows : 1;
  std::vector<float> col;
  for (std::size_t c = 0; c < cols; ++c) {
    out[c] = params_for(c, 1.f);
    if (q != Quantization::Int4 || rows < 2) continue;
    col.clear();
    for (std::size_t r = 0; r < rows; r += stride) {
      const float v = values[r * cols + c];
      if (std::isfinite(v)) col.push_back(v);
    }
    double best = std::numeric_limits<double>::infinity();
    for (int k = 0; k < kClipSteps; ++k) {
      const ChannelQuant p = params_for(c, 1.f - 0.05f * static_cast<float>(k));
      double err = 0;
      for (float v : col) {
        const float d = dequantize_one(quantize_one(v, p, qmax), p) - v;
        err += static_cast<double>(d) * d;
      }
      if (err < best) best = err, out[c] = p;
    }
  }
  return out;
}

std::uint16_t float_to_half(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t exp = (x >> 23) & 0xFFu;
  std::uint32_t mant = x & 0x7FFFFFu;
  if (exp == 0xFF) return static_cast<std::uint16_t>(sign | 0x7C00u | (mant ? 0x200u : 0u));  // inf / NaN
  const int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7C00u);  // overflow → inf
  if (e <= 0) {                                                    // subnormal half or zero
    if (e < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;  // 24-bit mantissa → (10 + e)-bit subnormal
    std::uint32_t h = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  std::uint32_t h = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
  const std::uint32_t rem = mant & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent (→ inf): correct
  return static_cast<std::uint16_t>(sign | h);
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (static_cast<std::uint32_t>(h) & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400u));
      x = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3FFu) << 13);
    }
  } else if (exp == 0x1F) {
    x = sign | 0x7F800000u | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(x);
}

void fake_quantize(std::span<float> values, std::size_t rows, std::size_t cols, Quantization q) {
  assert(values.size() == rows * cols);
  if (q == Quantization::Fp32) return;
  if (q == Quantization::Fp16) {
    for (float& v : values) v = half_to_float(float_to_half(v));
    return;
  }
  const int qmax = quant_max(q);
  const auto params = fit_channel_quant(values, rows, cols, q);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) {
      float& v = values[r * cols + c];
      v = dequantize_one(quantize_one(v, params[c], qmax), params[c]);
    }
}

double cosine_similarity(std::span<const float> a, std::span<const float> b) {
  assert(a.size() == b.size());
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  constexpr double kTiny = 1e-24;
  if (aa < kTiny && bb < kTiny) return 1.0;
  if (aa < kTiny || bb < kTiny) return 0.0;
  return ab / std::sqrt(aa * bb);
}

}  // namespace v2x::comm
