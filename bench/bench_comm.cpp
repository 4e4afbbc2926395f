// Wire codec speed and quantization fidelity. Target: encode (quantize + pack + lz4 + CRC) + decode ≤ 1 ms per
// 8 KB message on one core. Messages: ReLU-like features, C = 64, channel scales spread over 100×, the number
// of cells chosen so that the encoded message is ~8 KB for each quantization. Counters: wire bytes, cells, and
// the per-cell cosine similarity (mean / min) after a round trip.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "v2x/comm/codec.hpp"
#include "v2x/comm/quantize.hpp"
#include "v2x/core/rng.hpp"

using namespace v2x;
using namespace v2x::comm;

namespace {
constexpr int kC = 64;
const BevGrid kGrid{-51.2, 51.2, -51.2, 51.2, 0.4};  // 256 × 256

SparseFeatures message_of_about(std::size_t target_bytes, Quantization q, std::uint64_t seed = 1) {
  std::size_t n = 1;
  while (encoded_size_upper_bound(n + 1, kC, q, kGrid.num_cells()) <= target_bytes) ++n;
  Rng rng(seed);
  SparseFeatures f;
  f.sender = 3;
  f.grid = kGrid;
  f.channels = kC;
  f.quant = q;
  f.T_world_lidar = planar_pose(10, 20, 1.7, 0.3);
  std::set<std::uint32_t> s;
  while (s.size() < n) s.insert(static_cast<std::uint32_t>(rng.next_u64() % kGrid.num_cells()));
  f.cell_indices.assign(s.begin(), s.end());
  std::vector<double> scale(kC);
  for (auto& x : scale) x = std::exp(rng.uniform(std::log(0.05), std::log(5.0)));
  for (std::size_t i = 0; i < n * kC; ++i) f.values.push_back(static_cast<float>(std::max(0.0, scale[i % kC] * rng.normal())));
  return f;
}

void cosine_counters(benchmark::State& st, const SparseFeatures& f, const SparseFeatures& d) {
  double sum = 0, lo = 1;
  for (std::size_t c = 0; c < f.num_cells(); ++c) {
    const double cs = cosine_similarity(std::span(f.values).subspan(c * kC, kC), std::span(d.values).subspan(c * kC, kC));
    sum += cs, lo = std::min(lo, cs);
  }
  st.counters["cos_mean"] = sum / static_cast<double>(f.num_cells());
  st.counters["cos_min"] = lo;
}

void BM_EncodeDecode8KB(benchmark::State& st) {
  const auto q = static_cast<Quantization>(st.range(0));
  const auto f = message_of_about(8192, q);
  Bytes last;
  for (auto _ : st) {
    auto b = encode(f);
    auto d = decode(*b);
    benchmark::DoNotOptimize(d);
    last = std::move(*b);
  }
  st.counters["wire_bytes"] = static_cast<double>(last.size());
  st.counters["cells"] = static_cast<double>(f.num_cells());
  cosine_counters(st, f, *decode(last));
  st.SetLabel(std::string(enum_name(q)));
}
BENCHMARK(BM_EncodeDecode8KB)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond);

void BM_Encode8KB(benchmark::State& st) {
  const auto q = static_cast<Quantization>(st.range(0));
  const auto f = message_of_about(8192, q);
  for (auto _ : st) benchmark::DoNotOptimize(encode(f));
  st.SetLabel(std::string(enum_name(q)));
}
BENCHMARK(BM_Encode8KB)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond);

void BM_Decode8KB(benchmark::State& st) {
  const auto q = static_cast<Quantization>(st.range(0));
  const Bytes b = *encode(message_of_about(8192, q));
  for (auto _ : st) benchmark::DoNotOptimize(decode(b));
  st.SetLabel(std::string(enum_name(q)));
}
BENCHMARK(BM_Decode8KB)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond);

void BM_Fragment8KB(benchmark::State& st) {  // split into ≤ 1398-byte fragments + decode + reassemble
  const auto f = message_of_about(8192, Quantization::Int8);
  std::size_t frags = 0;
  for (auto _ : st) {
    auto fr = encode_fragments(f, kDefaultMtuBytes);
    Reassembler r;
    for (const auto& b : *fr) (void)r.add(*decode_message(b));
    benchmark::DoNotOptimize(r.take(true));
    frags = fr->size();
  }
  st.counters["fragments"] = static_cast<double>(frags);
}
BENCHMARK(BM_Fragment8KB)->Unit(benchmark::kMicrosecond);
}  // namespace

BENCHMARK_MAIN();
