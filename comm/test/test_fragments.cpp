#include <gtest/gtest.h>

#include <set>

#include "test_util.hpp"
#include "v2x/comm/codec.hpp"

using namespace v2x;
using namespace v2x::comm;

TEST(Fragments, EveryFragmentFitsTheMtuAndDecodesOnItsOwn) {
  for (Quantization q : {Quantization::Fp32, Quantization::Fp16, Quantization::Int8, Quantization::Int4}) {
    const auto f = test::make_features(21, 500, 32, q, 6, 16);
    auto frags = encode_fragments(f, kDefaultMtuBytes);
    ASSERT_TRUE(frags.has_value()) << frags.error().message;
    ASSERT_GT(frags->size(), 3u);
    std::set<std::uint32_t> cells;
    std::size_t anchors = 0;
    for (std::size_t i = 0; i < frags->size(); ++i) {
      const Bytes& b = (*frags)[i];
      EXPECT_LE(b.size(), kDefaultMtuBytes);
      auto m = decode_message(b);
      ASSERT_TRUE(m.has_value()) << m.error().message;
      EXPECT_EQ(m->fragment_index, i);
      EXPECT_EQ(m->fragment_count, frags->size());
      EXPECT_EQ(m->features.sender, f.sender);
      EXPECT_EQ(m->features.sequence, f.sequence);
      EXPECT_TRUE(m->features.T_world_lidar.isApprox(f.T_world_lidar, 1e-12));
      for (auto c : m->features.cell_indices) EXPECT_TRUE(cells.insert(c).second);
      anchors += m->features.anchors.size();
    }
    EXPECT_EQ(cells.size(), f.num_cells());
    EXPECT_EQ(anchors, f.anchors.size());
  }
}

TEST(Fragments, LosingOneFragmentLosesOnlyItsCells) {
  const auto f = test::make_features(22, 400, 24, Quantization::Int8, 4, 8);
  auto frags = encode_fragments(f, 1000);
  ASSERT_TRUE(frags.has_value());
  const std::size_t lost = frags->size() / 2;
  auto lost_msg = decode_message((*frags)[lost]);
  ASSERT_TRUE(lost_msg.has_value());
  const std::set<std::uint32_t> lost_cells(lost_msg->features.cell_indices.begin(), lost_msg->features.cell_indices.end());
  ASSERT_FALSE(lost_cells.empty());

  Reassembler r;
  for (std::size_t i = 0; i < frags->size(); ++i) {
    if (i == lost) continue;
    auto m = decode_message((*frags)[i]);
    ASSERT_TRUE(m.has_value());
    ASSERT_TRUE(r.add(std::move(m.value())).has_value());
  }
  EXPECT_TRUE(r.take(false).empty());  // incomplete: not returned unless asked
  auto got = r.take(true);
  ASSERT_EQ(got.size(), 1u);
  const auto& g = got[0];
  EXPECT_FALSE(g.complete());
  EXPECT_EQ(g.fragments_received + 1, g.fragment_count);
  EXPECT_EQ(g.features.num_cells() + lost_cells.size(), f.num_cells());
  EXPECT_EQ(g.features.values.size(), g.features.num_cells() * 24);
  EXPECT_TRUE(std::is_sorted(g.features.cell_indices.begin(), g.features.cell_indices.end()));
  std::size_t j = 0;
  for (std::size_t i = 0; i < f.num_cells(); ++i) {
    if (lost_cells.count(f.cell_indices[i])) continue;
    ASSERT_EQ(g.features.cell_indices[j], f.cell_indices[i]);
    // INT8 per fragment: each kept value within the fragment's quantization step of the original.
    for (int c = 0; c < 24; ++c)
      EXPECT_NEAR(g.features.values[j * 24 + c], f.values[i * 24 + c], 0.05f * 5.0f);
    ++j;
  }
}

TEST(Fragments, CompleteReassemblyEqualsTheOriginalCells) {
  const auto f = test::make_features(23, 300, 16, Quantization::Fp32, 3, 4);
  auto frags = encode_fragments(f, 700);
  ASSERT_TRUE(frags.has_value());
  Reassembler r;
  for (auto it = frags->rbegin(); it != frags->rend(); ++it) {  // any order
    auto m = decode_message(*it);
    ASSERT_TRUE(m.has_value());
    ASSERT_TRUE(r.add(std::move(m.value())).has_value());
  }
  auto got = r.take(false);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].complete());
  EXPECT_EQ(got[0].features.cell_indices, f.cell_indices);
  EXPECT_EQ(got[0].features.values, f.values);
  EXPECT_EQ(got[0].features.anchors.size(), f.anchors.size());
  EXPECT_EQ(r.pending(), 0u);
}

TEST(Fragments, DuplicateAndMismatchedFragmentsAreRejected) {
  const auto f = test::make_features(24, 100, 16);
  auto frags = encode_fragments(f, 600);
  ASSERT_TRUE(frags.has_value());
  ASSERT_GE(frags->size(), 2u);
  Reassembler r;
  ASSERT_TRUE(r.add(decode_message((*frags)[0]).value()).has_value());
  EXPECT_EQ(r.add(decode_message((*frags)[0]).value()).error().code, ErrorCode::Corrupt);
  auto other = f;
  other.channels = 8;
  other.values.resize(other.num_cells() * 8);
  auto of = encode_fragments(other, 600);
  ASSERT_TRUE(of.has_value());
  EXPECT_EQ(r.add(decode_message((*of)[1]).value()).error().code, ErrorCode::Mismatch);
}

TEST(Fragments, TooSmallMtuIsAnError) {
  const auto f = test::make_features(25, 10, 256, Quantization::Fp32);
  auto frags = encode_fragments(f, 300);
  ASSERT_FALSE(frags.has_value());
  EXPECT_EQ(frags.error().code, ErrorCode::OutOfRange);
}

TEST(Fragments, EmptyMessageIsOneFragment) {
  auto f = test::make_features(26, 0, 16);
  auto frags = encode_fragments(f, kDefaultMtuBytes);
  ASSERT_TRUE(frags.has_value());
  EXPECT_EQ(frags->size(), 1u);
}
