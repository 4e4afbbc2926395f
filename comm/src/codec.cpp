#include "v2x/comm/codec.hpp"

#include <lz4.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include <Eigen/Geometry>

#include "v2x/comm/crc32c.hpp"
#include "v2x/comm/quantize.hpp"

namespace v2x::comm {
namespace {

constexpr std::uint8_t kMagic[4] = {'V', '2', 'X', 'F'};
constexpr std::uint8_t kIndexDeltaVarint = 0;
constexpr std::uint8_t kIndexBitmap = 1;
static_assert(wire_v1::kFrameHeaderBytes == 36, "docs/wire-format.md §2: frame header is 36 bytes");
static_assert(wire_v1::kBodyFixedBytes == 113, "docs/wire-format.md §3: fixed body part is 113 bytes");
static_assert(LZ4_MAX_INPUT_SIZE >= static_cast<int>(kMaxBodyBytes), "lz4 must accept the largest body");

// ---- little-endian writer ------------------------------------------------------------------------------
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { put(v, 2); }
  void u32(std::uint32_t v) { put(v, 4); }
  void u64(std::uint64_t v) { put(v, 8); }
  void i32(std::int32_t v) { u32(static_cast<std::uint32_t>(v)); }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void f32(float v) { u32(std::bit_cast<std::uint32_t>(v)); }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void varint(std::uint32_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<std::uint8_t>(v));
  }
  void bytes(const std::uint8_t* p, std::size_t n) { out_.insert(out_.end(), p, p + n); }

 private:
  void put(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Bytes& out_;
};

// ---- bounds-checked little-endian reader: every read past the end sets ok_ = false and yields 0 ------------
class Reader {
 public:
  Reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool ok() const { return ok_; }
  std::size_t remaining() const { return n_ - pos_; }
  std::size_t pos() const { return pos_; }
  std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(get(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  std::uint64_t u64() { return get(8); }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  float f32() { return std::bit_cast<float>(u32()); }
  double f64() { return std::bit_cast<double>(u64()); }
  // Returns a pointer to n bytes and advances, or nullptr (and ok_ = false) when fewer remain.
  const std::uint8_t* take(std::size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return nullptr;
    }
    const std::uint8_t* p = p_ + pos_;
    pos_ += n;
    return p;
  }

 private:
  std::uint64_t get(int n) {
    const std::uint8_t* p = take(static_cast<std::size_t>(n));
    if (!p) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
    return v;
  }
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

Error err(ErrorCode c, std::string msg) { return make_error(c, "wire v1: " + std::move(msg)); }

bool grid_dims(const BevGrid& g, int& h, int& w) {
  const double vals[5] = {g.x_min_m, g.x_max_m, g.y_min_m, g.y_max_m, g.cell_m};
  for (double v : vals)
    if (!std::isfinite(v)) return false;
  if (!(g.cell_m > 0) || !(g.x_max_m > g.x_min_m) || !(g.y_max_m > g.y_min_m)) return false;
  const double wx = (g.x_max_m - g.x_min_m) / g.cell_m, hy = (g.y_max_m - g.y_min_m) / g.cell_m;
  if (!(wx < kMaxGridSide + 0.5) || !(hy < kMaxGridSide + 0.5)) return false;
  w = g.width();
  h = g.height();
  return w >= 1 && h >= 1;
}

// Values block (docs §3.2): per-column params (INT8/INT4) then the (rows, cols) values.
void write_value_block(Writer& w, Bytes& out, std::span<const float> v, std::size_t rows, std::size_t cols,
                       Quantization q) {
  switch (q) {
    case Quantization::Fp32:
      for (float x : v) w.f32(x);
      return;
    case Quantization::Fp16:
      for (float x : v) w.u16(float_to_half(x));
      return;
    case Quantization::Int8:
    case Quantization::Int4: {
      const int qmax = quant_max(q);
      const auto params = fit_channel_quant(v, rows, cols, q);
      for (const auto& p : params) {
        w.f32(p.scale);
        w.u8(p.zero_point);
      }
      if (q == Quantization::Int8) {
        const std::size_t base = out.size();
        out.resize(base + rows * cols);
        std::uint8_t* dst = out.data() + base;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < cols; ++c) dst[r * cols + c] = quantize_one(v[r * cols + c], params[c], qmax);
      } else {
        const std::size_t n = rows * cols;
        const std::size_t base = out.size();
        out.resize(base + (n + 1) / 2, 0);
        std::uint8_t* dst = out.data() + base;
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint8_t qv = quantize_one(v[i], params[i % cols], qmax);
          dst[i / 2] |= static_cast<std::uint8_t>((i & 1) ? (qv << 4) : qv);  // low nibble first
        }
      }
      return;
    }
  }
}

std::optional<Error> read_value_block(Reader& r, std::vector<float>& out, std::size_t rows, std::size_t cols,
                                      Quantization q, const char* what) {
  const std::size_t n = rows * cols;  // rows, cols bounded by the caller: no overflow
  const auto trunc = [&] { return err(ErrorCode::Truncated, std::string(what) + " values run past the body"); };
  const auto bad_value = [&] { return err(ErrorCode::Corrupt, std::string(what) + " value is not finite"); };
  switch (q) {
    case Quantization::Fp32: {
      const std::uint8_t* p = r.take(4 * n);
      if (!p) return trunc();
      out.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* q = p + 4 * i;
        const std::uint32_t u = static_cast<std::uint32_t>(q[0]) | static_cast<std::uint32_t>(q[1]) << 8 |
                                static_cast<std::uint32_t>(q[2]) << 16 | static_cast<std::uint32_t>(q[3]) << 24;
        out[i] = std::bit_cast<float>(u);
        if (!std::isfinite(out[i])) return bad_value();
      }
      return std::nullopt;
    }
    case Quantization::Fp16: {
      const std::uint8_t* p = r.take(2 * n);
      if (!p) return trunc();
      out.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = half_to_float(static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
        if (!std::isfinite(out[i])) return bad_value();
      }
      return std::nullopt;
    }
    case Quantization::Int8:
    case Quantization::Int4: {
      const int qmax = quant_max(q);
      std::vector<ChannelQuant> params(cols);
      if (!r.ok() || r.remaining() < cols * wire_v1::kChannelQuantBytes) return trunc();
      for (auto& p : params) {
        p.scale = r.f32();
        p.zero_point = r.u8();
        if (!std::isfinite(p.scale) || !(p.scale > 0.f))
          return err(ErrorCode::Corrupt, std::string(what) + " quantization scale not finite and positive");
        if (p.zero_point > qmax) return err(ErrorCode::OutOfRange, std::string(what) + " zero point above qmax");
      }
      const std::size_t nbytes = q == Quantization::Int8 ? n : (n + 1) / 2;
      const std::uint8_t* d = r.take(nbytes);
      if (!d) return trunc();
      out.resize(n);
      if (q == Quantization::Int8) {
        for (std::size_t row = 0; row < rows; ++row)
          for (std::size_t c = 0; c < cols; ++c) out[row * cols + c] = dequantize_one(d[row * cols + c], params[c]);
      } else {
        if ((n & 1) && (d[nbytes - 1] >> 4) != 0)
          return err(ErrorCode::Corrupt, std::string(what) + " INT4 padding nibble is not zero");
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint8_t qv = (i & 1) ? (d[i / 2] >> 4) : (d[i / 2] & 0x0F);
          out[i] = dequantize_one(qv, params[i % cols]);
        }
      }
      for (float v : out)
        if (!std::isfinite(v)) return bad_value();
      return std::nullopt;
    }
  }
  return err(ErrorCode::Corrupt, "unknown quantization");
}

std::optional<Error> validate_for_encode(const SparseFeatures& f, int& h, int& w) {
  if (!grid_dims(f.grid, h, w)) return err(ErrorCode::OutOfRange, "grid " + f.grid.describe() + " outside limits");
  if (f.channels < 0 || f.channels > kMaxChannels) return err(ErrorCode::OutOfRange, "channels outside [0, 1024]");
  if (static_cast<int>(f.quant) > 3) return err(ErrorCode::OutOfRange, "unknown quantization");
  if (f.modality & ~(kModalityLidar | kModalityCamera)) return err(ErrorCode::OutOfRange, "unknown modality bits");
  const std::uint64_t grid_cells = static_cast<std::uint64_t>(h) * static_cast<std::uint64_t>(w);
  if (f.cell_indices.size() > kMaxCells) return err(ErrorCode::OutOfRange, "more than 2^20 cells");
  for (std::size_t i = 0; i < f.cell_indices.size(); ++i) {
    if (f.cell_indices[i] >= grid_cells) return err(ErrorCode::OutOfRange, "cell index outside the grid");
    if (i > 0 && f.cell_indices[i] <= f.cell_indices[i - 1])
      return err(ErrorCode::Mismatch, "cell indices not strictly increasing");
  }
  if (f.values.size() != f.cell_indices.size() * static_cast<std::size_t>(f.channels))
    return err(ErrorCode::Mismatch, "values.size() != num_cells * channels");
  if (f.anchors.size() > static_cast<std::size_t>(kMaxAnchors)) return err(ErrorCode::OutOfRange, "too many anchors");
  const std::size_t dim = f.anchors.empty() ? 0 : f.anchors.front().feature.size();
  if (dim > static_cast<std::size_t>(kMaxAnchorDim)) return err(ErrorCode::OutOfRange, "anchor feature too long");
  for (const auto& a : f.anchors)
    if (a.feature.size() != dim) return err(ErrorCode::Mismatch, "anchors with different feature sizes");
  return std::nullopt;
}

}  // namespace

Expected<Bytes> encode(const SparseFeatures& f, const EncodeOptions& opt) {
  int h = 0, w = 0;
  if (auto e = validate_for_encode(f, h, w)) return *e;
  if (opt.fragment_count == 0 || opt.fragment_index >= opt.fragment_count)
    return err(ErrorCode::OutOfRange, "fragment index/count");
  const std::size_t n = f.cell_indices.size();
  const std::size_t C = static_cast<std::size_t>(f.channels);
  const std::int64_t grid_cells = static_cast<std::int64_t>(h) * w;

  Bytes body;
  body.reserve(encoded_size_upper_bound(n, f.channels, f.quant, grid_cells, f.anchors.size(), f.anchor_dim()));
  Writer bw(body);
  // §3 pose: translation (m) then unit quaternion w, x, y, z of T_world_lidar's rotation.
  const Eigen::Vector3d t = f.T_world_lidar.translation();
  Eigen::Quaterniond qr(f.T_world_lidar.rotation());
  qr.normalize();
  if (qr.w() < 0) qr.coeffs() = -qr.coeffs();  // canonical sign: w ≥ 0
  bw.f64(t.x()), bw.f64(t.y()), bw.f64(t.z());
  bw.f64(qr.w()), bw.f64(qr.x()), bw.f64(qr.y()), bw.f64(qr.z());
  bw.f64(f.grid.x_min_m), bw.f64(f.grid.x_max_m), bw.f64(f.grid.y_min_m), bw.f64(f.grid.y_max_m);
  bw.f64(f.grid.cell_m);
  bw.u16(static_cast<std::uint16_t>(h)), bw.u16(static_cast<std::uint16_t>(w));
  bw.u16(static_cast<std::uint16_t>(C));
  bw.u8(f.modality), bw.u8(static_cast<std::uint8_t>(f.quant));
  bw.u32(static_cast<std::uint32_t>(n));
  // §3.1 indices: delta + varint (sparse) or a bitmap (dense), whichever is smaller; ties → varint.
  std::size_t varint_size = 0;
  for (std::size_t i = 0; i < n; ++i)
    varint_size += wire_v1::varint_bytes(i == 0 ? f.cell_indices[0] : f.cell_indices[i] - f.cell_indices[i - 1] - 1);
  const std::size_t bitmap_size = n == 0 ? 0 : static_cast<std::size_t>((grid_cells + 7) / 8);
  if (n == 0 || varint_size <= bitmap_size) {
    bw.u8(kIndexDeltaVarint);
    bw.u32(static_cast<std::uint32_t>(varint_size));
    for (std::size_t i = 0; i < n; ++i)
      bw.varint(i == 0 ? f.cell_indices[0] : f.cell_indices[i] - f.cell_indices[i - 1] - 1);
  } else {
    bw.u8(kIndexBitmap);
    bw.u32(static_cast<std::uint32_t>(bitmap_size));
    const std::size_t base = body.size();
    body.resize(base + bitmap_size, 0);
    for (std::uint32_t idx : f.cell_indices) body[base + idx / 8] |= static_cast<std::uint8_t>(1u << (idx % 8));
  }
  if (n > 0 && C > 0) write_value_block(bw, body, f.values, n, C, f.quant);
  // §3.3 anchors
  const std::size_t dim = static_cast<std::size_t>(f.anchor_dim());
  bw.u16(static_cast<std::uint16_t>(f.anchors.size()));
  bw.u16(static_cast<std::uint16_t>(dim));
  for (const auto& a : f.anchors) {
    bw.f32(static_cast<float>(a.box.center.x())), bw.f32(static_cast<float>(a.box.center.y()));
    bw.f32(static_cast<float>(a.box.center.z()));
    bw.f32(static_cast<float>(a.box.l_m)), bw.f32(static_cast<float>(a.box.w_m)), bw.f32(static_cast<float>(a.box.h_m));
    bw.f32(static_cast<float>(a.box.yaw_rad)), bw.f32(a.score);
  }
  if (!f.anchors.empty() && dim > 0) {
    std::vector<float> feats;
    feats.reserve(f.anchors.size() * dim);
    for (const auto& a : f.anchors) feats.insert(feats.end(), a.feature.begin(), a.feature.end());
    write_value_block(bw, body, feats, f.anchors.size(), dim, f.quant);
  }
  if (body.size() > kMaxBodyBytes) return err(ErrorCode::OutOfRange, "body larger than kMaxBodyBytes");

  // §2 lz4: kept only when strictly smaller.
  std::uint8_t flags = 0;
  Bytes compressed;
  if (opt.lz4 && !body.empty()) {
    compressed.resize(static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(body.size()))));
    const int c = LZ4_compress_default(reinterpret_cast<const char*>(body.data()),
                                       reinterpret_cast<char*>(compressed.data()), static_cast<int>(body.size()),
                                       static_cast<int>(compressed.size()));
    if (c > 0 && static_cast<std::size_t>(c) < body.size()) {
      compressed.resize(static_cast<std::size_t>(c));
      flags |= kFlagLz4;
    }
  }
  const Bytes& stored = (flags & kFlagLz4) ? compressed : body;
  const std::size_t total = wire_v1::kFrameHeaderBytes + stored.size() + wire_v1::kCrcBytes;
  Bytes out;
  out.reserve(total);
  Writer ow(out);
  ow.bytes(kMagic, 4);
  ow.u8(kWireVersion);
  ow.u8(flags);
  ow.u16(0);
  ow.u32(static_cast<std::uint32_t>(total));
  ow.u32(static_cast<std::uint32_t>(body.size()));
  ow.i32(f.sender);
  ow.u32(f.sequence);
  ow.i64(f.stamp_ns);
  ow.u16(opt.fragment_index);
  ow.u16(opt.fragment_count);
  ow.bytes(stored.data(), stored.size());
  ow.u32(crc32c(out));
  return out;
}

Expected<DecodedMessage> decode_message(std::span<const std::uint8_t> in, const DecodeOptions& opt) {
  constexpr std::size_t kMin = wire_v1::kFrameHeaderBytes + wire_v1::kCrcBytes;
  if (in.size() > std::min(opt.max_message_bytes, kMaxMessageBytes))
    return err(ErrorCode::OutOfRange, "message of " + std::to_string(in.size()) + " bytes exceeds the limit");
  if (in.size() < kMin) return err(ErrorCode::Truncated, "shorter than the 40-byte minimum");
  if (std::memcmp(in.data(), kMagic, 4) != 0) return err(ErrorCode::Corrupt, "bad magic");
  Reader hr(in.data() + 4, wire_v1::kFrameHeaderBytes - 4);
  const std::uint8_t version = hr.u8();
  if (version != kWireVersion) return err(ErrorCode::WrongVersion, "version " + std::to_string(version));
  const std::uint8_t flags = hr.u8();
  if (flags & ~kKnownFlags) return err(ErrorCode::WrongVersion, "unknown flag bits " + std::to_string(flags));
  if (hr.u16() != 0) return err(ErrorCode::Corrupt, "reserved header field not zero");
  const std::uint32_t total = hr.u32();
  if (total > in.size()) return err(ErrorCode::Truncated, "total_len " + std::to_string(total) + " > received");
  if (total < in.size()) return err(ErrorCode::Corrupt, "trailing bytes after total_len");
  const std::uint32_t body_len = hr.u32();
  DecodedMessage m;
  SparseFeatures& f = m.features;
  f.sender = hr.i32();
  f.sequence = hr.u32();
  f.stamp_ns = hr.i64();
  m.fragment_index = hr.u16();
  m.fragment_count = hr.u16();
  if (opt.verify_crc) {
    std::uint32_t stored_crc = 0;
    for (int i = 0; i < 4; ++i) stored_crc |= static_cast<std::uint32_t>(in[total - 4 + i]) << (8 * i);
    if (crc32c(in.first(total - 4)) != stored_crc) return err(ErrorCode::BadChecksum, "CRC-32C mismatch");
  }
  if (m.fragment_count == 0 || m.fragment_index >= m.fragment_count)
    return err(ErrorCode::Corrupt, "fragment index/count");
  if (body_len > kMaxBodyBytes) return err(ErrorCode::OutOfRange, "body_len above kMaxBodyBytes");
  const std::uint8_t* stored = in.data() + wire_v1::kFrameHeaderBytes;
  const std::size_t stored_len = total - kMin;
  Bytes decompressed;
  const std::uint8_t* body = stored;
  if (flags & kFlagLz4) {
    m.compressed = true;
    if (stored_len > static_cast<std::size_t>(LZ4_MAX_INPUT_SIZE)) return err(ErrorCode::OutOfRange, "lz4 block");
    decompressed.resize(body_len);
    const int got = LZ4_decompress_safe(reinterpret_cast<const char*>(stored), reinterpret_cast<char*>(decompressed.data()),
                                        static_cast<int>(stored_len), static_cast<int>(body_len));
    if (got < 0 || static_cast<std::uint32_t>(got) != body_len)
      return err(ErrorCode::Corrupt, "lz4 block does not decompress to body_len");
    body = decompressed.data();
  } else if (stored_len != body_len) {
    return err(ErrorCode::Corrupt, "uncompressed body length differs from body_len");
  }

  Reader r(body, body_len);
  Eigen::Vector3d t;
  t.x() = r.f64(), t.y() = r.f64(), t.z() = r.f64();
  const double qw = r.f64(), qx = r.f64(), qy = r.f64(), qz = r.f64();
  f.grid.x_min_m = r.f64(), f.grid.x_max_m = r.f64(), f.grid.y_min_m = r.f64(), f.grid.y_max_m = r.f64();
  f.grid.cell_m = r.f64();
  const int h = r.u16(), w = r.u16(), C = r.u16();
  f.modality = r.u8();
  const std::uint8_t quant = r.u8();
  const std::uint32_t n = r.u32();
  const std::uint8_t coding = r.u8();
  const std::uint32_t index_bytes = r.u32();
  if (!r.ok()) return err(ErrorCode::Truncated, "body shorter than its fixed part");
  for (double v : {t.x(), t.y(), t.z(), qw, qx, qy, qz})
    if (!std::isfinite(v)) return err(ErrorCode::Corrupt, "pose not finite");
  const double qn = std::sqrt(qw * qw + qx * qx + qy * qy + qz * qz);
  if (std::abs(qn - 1.0) > 1e-6) return err(ErrorCode::Corrupt, "pose quaternion not unit");
  f.T_world_lidar = Pose::Identity();
  f.T_world_lidar.linear() = Eigen::Quaterniond(qw / qn, qx / qn, qy / qn, qz / qn).toRotationMatrix();
  f.T_world_lidar.translation() = t;
  int gh = 0, gw = 0;
  if (!grid_dims(f.grid, gh, gw)) return err(ErrorCode::OutOfRange, "grid outside limits");
  if (gh != h || gw != w) return err(ErrorCode::Mismatch, "H, W differ from the grid's extent / cell size");
  if (C > kMaxChannels) return err(ErrorCode::OutOfRange, "channels above 1024");
  f.channels = C;
  if (f.modality & ~(kModalityLidar | kModalityCamera)) return err(ErrorCode::Corrupt, "unknown modality bits");
  if (quant > 3) return err(ErrorCode::Corrupt, "unknown quantization " + std::to_string(quant));
  f.quant = static_cast<Quantization>(quant);
  const std::uint64_t grid_cells = static_cast<std::uint64_t>(h) * static_cast<std::uint64_t>(w);
  if (n > grid_cells) return err(ErrorCode::OutOfRange, "num_cells above H * W");
  const std::uint8_t* idx = r.take(index_bytes);
  if (!idx) return err(ErrorCode::Truncated, "index bytes run past the body");
  if (n > kMaxCells) return err(ErrorCode::OutOfRange, "num_cells above 2^20");
  if (static_cast<std::uint64_t>(n) > (coding == kIndexBitmap ? index_bytes * 8ull : index_bytes))
    return err(ErrorCode::OutOfRange, "num_cells cannot fit in index_bytes");  // bounds the allocation
  f.cell_indices.resize(n);
  if (coding == kIndexDeltaVarint) {
    std::size_t p = 0;
    std::uint64_t prev = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      std::uint64_t v = 0;
      int shift = 0;
      while (true) {
        if (p >= index_bytes) return err(ErrorCode::Truncated, "varint runs past index_bytes");
        if (shift > 28) return err(ErrorCode::Corrupt, "varint longer than 5 bytes");
        const std::uint8_t b = idx[p++];
        v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
        shift += 7;
        if (!(b & 0x80)) break;
      }
      const std::uint64_t cell = i == 0 ? v : prev + v + 1;
      if (cell >= grid_cells) return err(ErrorCode::OutOfRange, "cell index outside the grid");
      f.cell_indices[i] = static_cast<std::uint32_t>(cell);
      prev = cell;
    }
    if (p != index_bytes) return err(ErrorCode::Corrupt, "index_bytes not fully used");
  } else if (coding == kIndexBitmap) {
    if (index_bytes != (grid_cells + 7) / 8) return err(ErrorCode::Corrupt, "bitmap size is not ceil(H*W/8)");
    std::uint32_t k = 0;
    for (std::uint64_t cell = 0; cell < static_cast<std::uint64_t>(index_bytes) * 8; ++cell) {
      if (cell % 8 == 0 && idx[cell / 8] == 0) {
        cell += 7;
        continue;
      }
      if (!((idx[cell / 8] >> (cell % 8)) & 1u)) continue;
      if (cell >= grid_cells) return err(ErrorCode::OutOfRange, "bitmap padding bit set (cell outside the grid)");
      if (k >= n) return err(ErrorCode::Mismatch, "bitmap has more cells than num_cells");
      f.cell_indices[k++] = static_cast<std::uint32_t>(cell);
    }
    if (k != n) return err(ErrorCode::Mismatch, "bitmap has fewer cells than num_cells");
  } else {
    return err(ErrorCode::Corrupt, "unknown index coding " + std::to_string(coding));
  }
  if (n > 0 && C > 0)
    if (auto e = read_value_block(r, f.values, n, static_cast<std::size_t>(C), f.quant, "cell")) return *e;
  const int na = r.u16(), dim = r.u16();
  if (!r.ok()) return err(ErrorCode::Truncated, "anchor count runs past the body");
  if (na > kMaxAnchors || dim > kMaxAnchorDim) return err(ErrorCode::OutOfRange, "anchor count/dim above limits");
  if (r.remaining() < static_cast<std::size_t>(na) * wire_v1::kAnchorBoxBytes)
    return err(ErrorCode::Truncated, "anchors run past the body");
  f.anchors.resize(static_cast<std::size_t>(na));
  for (auto& a : f.anchors) {
    float v[8];
    for (float& x : v) x = r.f32();
    for (float x : v)
      if (!std::isfinite(x)) return err(ErrorCode::Corrupt, "anchor box not finite");
    if (v[3] < 0 || v[4] < 0 || v[5] < 0) return err(ErrorCode::OutOfRange, "negative anchor size");
    a.box.center = Eigen::Vector3d(v[0], v[1], v[2]);
    a.box.l_m = v[3], a.box.w_m = v[4], a.box.h_m = v[5], a.box.yaw_rad = v[6];
    a.score = v[7];
  }
  if (na > 0 && dim > 0) {
    std::vector<float> feats;
    if (auto e = read_value_block(r, feats, static_cast<std::size_t>(na), static_cast<std::size_t>(dim), f.quant,
                                  "anchor"))
      return *e;
    for (int i = 0; i < na; ++i)
      f.anchors[static_cast<std::size_t>(i)].feature.assign(feats.begin() + static_cast<std::ptrdiff_t>(i) * dim,
                                                            feats.begin() + static_cast<std::ptrdiff_t>(i + 1) * dim);
  }
  if (!r.ok()) return err(ErrorCode::Truncated, "body ends early");
  if (r.remaining() != 0) return err(ErrorCode::Corrupt, "trailing bytes in the body");
  return m;
}

// ---- fragments ---------------------------------------------------------------------------------------------

Expected<std::vector<Bytes>> encode_fragments(const SparseFeatures& f, std::size_t mtu_bytes, bool lz4) {
  int h = 0, w = 0;
  if (auto e = validate_for_encode(f, h, w)) return *e;
  const std::int64_t grid_cells = static_cast<std::int64_t>(h) * w;
  const int dim = f.anchor_dim();
  const auto bound = [&](std::size_t cells, std::size_t anchors) {
    return encoded_size_upper_bound(cells, f.channels, f.quant, grid_cells, anchors, dim);
  };
  // Plan: each fragment takes anchors first, then a contiguous run of cells, while its size bound fits the MTU.
  struct Span {
    std::size_t a0, a1, c0, c1;
  };
  std::vector<Span> plan;
  std::size_t a = 0, c = 0;
  const std::size_t na = f.anchors.size(), nc = f.cell_indices.size();
  do {
    Span s{a, a, c, c};
    while (s.a1 < na && bound(0, s.a1 - s.a0 + 1) <= mtu_bytes) ++s.a1;
    while (s.c1 < nc && bound(s.c1 - s.c0 + 1, s.a1 - s.a0) <= mtu_bytes) ++s.c1;
    if (s.a1 == s.a0 && s.c1 == s.c0 && (a < na || c < nc))
      return err(ErrorCode::OutOfRange, "one cell or anchor does not fit in MTU " + std::to_string(mtu_bytes));
    if (bound(s.c1 - s.c0, s.a1 - s.a0) > mtu_bytes)
      return err(ErrorCode::OutOfRange, "MTU " + std::to_string(mtu_bytes) + " below the header size");
    plan.push_back(s);
    a = s.a1;
    c = s.c1;
  } while (a < na || c < nc);
  if (plan.size() > 0xFFFF) return err(ErrorCode::OutOfRange, "more than 65535 fragments");

  std::vector<Bytes> out;
  out.reserve(plan.size());
  const std::size_t C = static_cast<std::size_t>(f.channels);
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const Span& s = plan[i];
    SparseFeatures part;
    part.sender = f.sender, part.stamp_ns = f.stamp_ns, part.sequence = f.sequence;
    part.T_world_lidar = f.T_world_lidar, part.grid = f.grid, part.channels = f.channels;
    part.modality = f.modality, part.quant = f.quant;
    part.cell_indices.assign(f.cell_indices.begin() + static_cast<std::ptrdiff_t>(s.c0),
                             f.cell_indices.begin() + static_cast<std::ptrdiff_t>(s.c1));
    part.values.assign(f.values.begin() + static_cast<std::ptrdiff_t>(s.c0 * C),
                       f.values.begin() + static_cast<std::ptrdiff_t>(s.c1 * C));
    part.anchors.assign(f.anchors.begin() + static_cast<std::ptrdiff_t>(s.a0),
                        f.anchors.begin() + static_cast<std::ptrdiff_t>(s.a1));
    EncodeOptions opt;
    opt.lz4 = lz4;
    opt.fragment_index = static_cast<std::uint16_t>(i);
    opt.fragment_count = static_cast<std::uint16_t>(plan.size());
    auto bytes = encode(part, opt);
    if (!bytes) return bytes.error();
    out.push_back(std::move(bytes.value()));
  }
  return out;
}

Expected<bool> Reassembler::add(DecodedMessage m) {
  const auto key = std::make_pair(m.features.sender, m.features.sequence);
  auto [it, inserted] = pending_.try_emplace(key);
  Pending& p = it->second;
  if (inserted) {
    p.parts.resize(m.fragment_count);
  } else {
    const SparseFeatures* ref = nullptr;
    for (const auto& part : p.parts)
      if (part) ref = &*part;
    if (p.parts.size() != m.fragment_count || !(ref->grid == m.features.grid) ||
        ref->channels != m.features.channels || ref->quant != m.features.quant ||
        (ref->anchor_dim() && m.features.anchor_dim() && ref->anchor_dim() != m.features.anchor_dim()))
      return err(ErrorCode::Mismatch, "fragment disagrees with earlier fragments of the same sequence");
  }
  if (p.parts[m.fragment_index]) return err(ErrorCode::Corrupt, "duplicate fragment");
  p.parts[m.fragment_index] = std::move(m.features);
  ++p.received;
  return p.received == static_cast<int>(p.parts.size());
}

std::vector<Reassembler::Result> Reassembler::take(bool include_incomplete) {
  std::vector<Result> out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (p.received != static_cast<int>(p.parts.size()) && !include_incomplete) {
      ++it;
      continue;
    }
    Result r;
    r.fragment_count = static_cast<int>(p.parts.size());
    r.fragments_received = p.received;
    bool first = true;
    std::vector<std::pair<std::uint32_t, std::pair<const SparseFeatures*, std::size_t>>> cells;
    for (const auto& part : p.parts) {
      if (!part) continue;
      if (first) {
        r.features = *part;
        r.features.cell_indices.clear();
        r.features.values.clear();
        r.features.anchors.clear();
        first = false;
      }
      for (std::size_t i = 0; i < part->cell_indices.size(); ++i) cells.push_back({part->cell_indices[i], {&*part, i}});
      r.features.anchors.insert(r.features.anchors.end(), part->anchors.begin(), part->anchors.end());
    }
    std::stable_sort(cells.begin(), cells.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    const std::size_t C = static_cast<std::size_t>(r.features.channels);
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0 && cells[i].first == cells[i - 1].first) continue;  // duplicate cell: first fragment wins
      r.features.cell_indices.push_back(cells[i].first);
      const auto& [src, row] = cells[i].second;
      r.features.values.insert(r.features.values.end(), src->values.begin() + static_cast<std::ptrdiff_t>(row * C),
                               src->values.begin() + static_cast<std::ptrdiff_t>((row + 1) * C));
    }
    out.push_back(std::move(r));
    it = pending_.erase(it);
  }
  return out;
}

}  // namespace v2x::comm
