// Writes the fuzz seed corpus: real encoded wire-v1 messages (every quantization, lz4 on/off, varint and
// bitmap indices, anchors, index-only requests, MTU fragments) into the directory given as argv[1].
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "v2x/comm/codec.hpp"
#include "v2x/core/rng.hpp"

using namespace v2x;
using namespace v2x::comm;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int written = 0;
  const auto write = [&](const Bytes& b) {
    std::ofstream(dir + "/seed_" + std::to_string(written++) + ".bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  Rng rng(2024);
  for (int i = 0; i < 24; ++i) {
    SparseFeatures f;
    f.sender = i;
    f.sequence = static_cast<std::uint32_t>(i * 3);
    f.stamp_ns = 1'000'000'000LL * i;
    f.T_world_lidar = planar_pose(rng.uniform(-100, 100), rng.uniform(-100, 100), 1.5, rng.uniform(-3, 3));
    f.grid = i % 3 == 0 ? BevGrid{-12.8, 12.8, -12.8, 12.8, 0.8} : BevGrid{-25.6, 25.6, -12.8, 12.8, 0.8};
    f.quant = static_cast<Quantization>(i % 4);
    f.channels = i % 6 == 5 ? 0 : 1 + i % 16;
    f.modality = static_cast<std::uint8_t>(1 + i % 3);
    const auto cells = static_cast<std::uint32_t>(f.grid.num_cells());
    const std::size_t n = i % 4 == 1 ? cells * 3 / 4 : static_cast<std::size_t>(rng.uniform_int(0, 40));  // dense → bitmap
    std::set<std::uint32_t> s;
    while (s.size() < n) s.insert(static_cast<std::uint32_t>(rng.next_u64() % cells));
    f.cell_indices.assign(s.begin(), s.end());
    for (std::size_t k = 0; k < n * static_cast<std::size_t>(f.channels); ++k)
      f.values.push_back(static_cast<float>(std::max(0.0, rng.normal())));
    for (int a = 0; a < i % 3; ++a) {
      SparseAnchor an;
      an.box.center = Eigen::Vector3d(rng.uniform(-10, 10), rng.uniform(-10, 10), 0);
      an.box.l_m = 4, an.box.w_m = 2, an.box.h_m = 1.5;
      an.score = 0.8f;
      an.feature.assign(4, 0.25f * a);
      f.anchors.push_back(an);
    }
    auto whole = encode(f, EncodeOptions{i % 2 == 0});
    if (!whole) {
      std::fprintf(stderr, "encode failed: %s\n", whole.error().message.c_str());
      return 1;
    }
    write(*whole);
    if (i % 4 == 2) {
      auto frags = encode_fragments(f, 300 + 40 * static_cast<std::size_t>(f.channels) * 5);
      if (frags)
        for (const auto& fr : *frags) write(fr);
    }
  }
  std::printf("wrote %d seed messages to %s\n", written, dir.c_str());
  return 0;
}
