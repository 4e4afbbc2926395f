#include <gtest/gtest.h>

#include <fstream>

#include "test_util.hpp"
#include "v2x/sensors/pcd.hpp"

namespace v2x::sensors {
namespace {

using test::TempDir;

void expect_same_points(const PointCloud& a, const PointCloud& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a.x[i], b.x[i]);
    ASSERT_EQ(a.y[i], b.y[i]);
    ASSERT_EQ(a.z[i], b.z[i]);
  }
}

TEST(Pcd, RoundTripsEveryEncodingExactly) {
  TempDir tmp("pcd_rt");
  Rng rng(7);
  const PointCloud c = test::random_cloud(rng, 1000, true);
  for (auto enc : {PcdEncoding::Ascii, PcdEncoding::Binary, PcdEncoding::BinaryCompressed}) {
    const auto file = tmp.path / ("c" + std::to_string(static_cast<int>(enc)) + ".pcd");
    write_pcd(c, file, {enc, PcdIntensity::Intensity, true});
    auto r = read_pcd(file);
    ASSERT_TRUE(r) << r.error().message;
    expect_same_points(c, *r);
    ASSERT_TRUE(r->time_s.has_value());
    for (std::size_t i = 0; i < c.size(); ++i) {
      EXPECT_EQ(c.intensity[i], r->intensity[i]);
      EXPECT_EQ((*c.time_s)[i], (*r->time_s)[i]);
    }
  }
}

TEST(Pcd, EmptyScanRoundTrips) {  // a camera-only agent's frame
  TempDir tmp("pcd_empty");
  for (auto enc : {PcdEncoding::Ascii, PcdEncoding::Binary, PcdEncoding::BinaryCompressed}) {
    const auto file = tmp.path / ("e" + std::to_string(static_cast<int>(enc)) + ".pcd");
    write_pcd(PointCloud{}, file, {enc, PcdIntensity::Intensity, false});
    auto r = read_pcd(file);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->size(), 0u);
  }
}

TEST(Pcd, RgbPackedIntensityIsQuantizedToRedChannel) {
  TempDir tmp("pcd_rgb");
  PointCloud c;
  c.push_back(1, 2, 3, 0.0f);
  c.push_back(1, 2, 3, 0.5f);
  c.push_back(1, 2, 3, 1.0f);
  c.push_back(1, 2, 3, 7.0f);  // clamped
  write_pcd(c, tmp.path / "rgb.pcd", {PcdEncoding::Binary, PcdIntensity::RgbPacked, false});
  auto r = read_pcd(tmp.path / "rgb.pcd");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FLOAT_EQ(r->intensity[0], 0.0f);
  EXPECT_FLOAT_EQ(r->intensity[1], 128.0f / 255.0f);
  EXPECT_FLOAT_EQ(r->intensity[2], 1.0f);
  EXPECT_FLOAT_EQ(r->intensity[3], 1.0f);
}

TEST(Pcd, WritesDeterministicBytes) {
  TempDir tmp("pcd_det");
  Rng rng(3);
  const PointCloud c = test::random_cloud(rng, 200);
  write_pcd(c, tmp.path / "a.pcd", {PcdEncoding::BinaryCompressed});
  write_pcd(c, tmp.path / "b.pcd", {PcdEncoding::BinaryCompressed});
  std::ifstream a(tmp.path / "a.pcd", std::ios::binary), b(tmp.path / "b.pcd", std::ios::binary);
  const std::string sa((std::istreambuf_iterator<char>(a)), {}), sb((std::istreambuf_iterator<char>(b)), {});
  EXPECT_EQ(sa, sb);
  EXPECT_FALSE(std::filesystem::exists(tmp.path / ".a.pcd.tmp"));
}

TEST(Pcd, MissingFileNamesTheFile) {
  auto r = read_pcd("/nonexistent/dir/x.pcd");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::Missing);
  EXPECT_NE(r.error().message.find("x.pcd"), std::string::npos);
}

TEST(Pcd, TruncatedCopiesNeverCrashAndReportTheFile) {
  TempDir tmp("pcd_trunc");
  Rng rng(11);
  const PointCloud c = test::random_cloud(rng, 500);
  for (auto enc : {PcdEncoding::Ascii, PcdEncoding::Binary, PcdEncoding::BinaryCompressed}) {
    const auto full = tmp.path / "full.pcd";
    write_pcd(c, full, {enc});
    std::ifstream in(full, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    int failures = 0;
    for (std::size_t cut : {std::size_t{0}, std::size_t{10}, std::size_t{60}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 30}) {
      const auto t = tmp.path / ("cut" + std::to_string(cut) + ".pcd");
      std::ofstream(t, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
      auto r = read_pcd(t);
      if (!r) {
        ++failures;
        EXPECT_NE(r.error().message.find(t.filename().string()), std::string::npos) << r.error().message;
      } else {
        EXPECT_LT(r->size(), c.size()) << "a truncated file cannot hold every point: enc " << static_cast<int>(enc) << " cut " << cut << " of " << bytes.size();
      }
    }
    EXPECT_GE(failures, 4) << "encoding " << static_cast<int>(enc);
  }
}

TEST(Pcd, CorruptCompressedBodyIsAnError) {
  TempDir tmp("pcd_corrupt");
  Rng rng(5);
  write_pcd(test::random_cloud(rng, 300), tmp.path / "c.pcd", {PcdEncoding::BinaryCompressed});
  std::fstream f(tmp.path / "c.pcd", std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  const auto body = bytes.find("DATA binary_compressed\n") + 23;
  // Claim a huge uncompressed size.
  bytes[body + 4] = '\x7f';
  bytes[body + 5] = '\x7f';
  bytes[body + 6] = '\x7f';
  f.seekp(0);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  auto r = read_pcd(tmp.path / "c.pcd");
  EXPECT_FALSE(r);
}

TEST(Pcd, MissingCoordinateFieldNamesTheField) {
  TempDir tmp("pcd_field");
  std::ofstream(tmp.path / "noz.pcd") << "# .PCD v0.7\nVERSION 0.7\nFIELDS x y intensity\nSIZE 4 4 4\nTYPE F F F\n"
                                         "COUNT 1 1 1\nWIDTH 1\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 1\nDATA ascii\n1 2 3\n";
  auto r = read_pcd(tmp.path / "noz.pcd");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("noz.pcd"), std::string::npos);
  EXPECT_NE(r.error().message.find("'z'"), std::string::npos);
}

TEST(KittiBin, RoundTripsAndRejectsTruncatedFiles) {
  TempDir tmp("kbin");
  Rng rng(9);
  const PointCloud c = test::random_cloud(rng, 100);
  write_kitti_bin(c, tmp.path / "a.bin");
  auto r = read_kitti_bin(tmp.path / "a.bin");
  ASSERT_TRUE(r);
  expect_same_points(c, *r);
  std::filesystem::resize_file(tmp.path / "a.bin", 100 * 16 - 3);
  auto t = read_kitti_bin(tmp.path / "a.bin");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ErrorCode::Truncated);
}

}  // namespace
}  // namespace v2x::sensors
