#include "v2x/sensors/pcd.hpp"

#include <pcl/PCLPointCloud2.h>
#include <pcl/io/pcd_io.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "file_util.hpp"

namespace v2x::sensors {

namespace fs = std::filesystem;

namespace {

Error file_error(ErrorCode code, const fs::path& file, const std::string& what) {
  return make_error(code, file.string() + ": " + what);
}

const pcl::PCLPointField* find_field(const pcl::PCLPointCloud2& c, std::initializer_list<const char*> names) {
  for (const char* n : names)
    for (const auto& f : c.fields)
      if (f.name == n) return &f;
  return nullptr;
}

int datatype_size(std::uint8_t t) {
  switch (t) {
    case pcl::PCLPointField::INT8:
    case pcl::PCLPointField::UINT8: return 1;
    case pcl::PCLPointField::INT16:
    case pcl::PCLPointField::UINT16: return 2;
    case pcl::PCLPointField::INT32:
    case pcl::PCLPointField::UINT32:
    case pcl::PCLPointField::FLOAT32: return 4;
    case pcl::PCLPointField::FLOAT64: return 8;
    default: return 0;
  }
}

// Reads one scalar of field f of point i as double (the field has been validated to lie inside point_step).
double read_scalar(const std::uint8_t* p, std::uint8_t type) {
  switch (type) {
    case pcl::PCLPointField::INT8: { std::int8_t v; std::memcpy(&v, p, 1); return v; }
    case pcl::PCLPointField::UINT8: return *p;
    case pcl::PCLPointField::INT16: { std::int16_t v; std::memcpy(&v, p, 2); return v; }
    case pcl::PCLPointField::UINT16: { std::uint16_t v; std::memcpy(&v, p, 2); return v; }
    case pcl::PCLPointField::INT32: { std::int32_t v; std::memcpy(&v, p, 4); return v; }
    case pcl::PCLPointField::UINT32: { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
    case pcl::PCLPointField::FLOAT32: { float v; std::memcpy(&v, p, 4); return v; }
    case pcl::PCLPointField::FLOAT64: { double v; std::memcpy(&v, p, 8); return v; }
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

std::optional<Error> check_field(const pcl::PCLPointCloud2& c, const pcl::PCLPointField& f, const fs::path& file) {
  const int sz = datatype_size(f.datatype);
  if (sz == 0) return file_error(ErrorCode::Corrupt, file, "field '" + f.name + "' has an unsupported type");
  if (f.count < 1) return file_error(ErrorCode::Corrupt, file, "field '" + f.name + "' has COUNT 0");
  if (static_cast<std::size_t>(f.offset) + static_cast<std::size_t>(sz) > c.point_step)
    return file_error(ErrorCode::Corrupt, file, "field '" + f.name + "' lies outside the point record");
  return std::nullopt;
}

// PCL 1.13 dereferences out-of-bounds memory on some truncated or inconsistent headers (observed: a file cut
// inside the header segfaults in PCDReader::read), so the header and body sizes are checked here first, and only
// a file that passes is handed to PCL. Hand-written because PCL offers no safe validation entry point.
// `points` (optional) receives the header's point count when the header is valid.
std::optional<Error> validate_pcd(const fs::path& file, const std::string& bytes, std::size_t* points_out) {
  std::size_t pos = 0;
  std::vector<std::string> fields;
  std::vector<int> sizes, counts;
  std::vector<char> types;
  long long width = -1, height = 1, points = -1;
  std::string data;
  auto header_err = [&](const std::string& field, const std::string& what) {
    return file_error(ErrorCode::Corrupt, file, "header field '" + field + "': " + what);
  };
  while (pos < bytes.size()) {
    std::size_t eol = bytes.find('\n', pos);
    if (eol == std::string::npos) eol = bytes.size();
    std::string line = bytes.substr(pos, eol - pos);
    pos = std::min(eol + 1, bytes.size());
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string key;
    ls >> key;
    std::vector<std::string> tok;
    for (std::string t; ls >> t;) tok.push_back(t);
    auto ints = [&](std::vector<int>& out) -> bool {
      out.clear();
      for (const auto& t : tok) {
        try {
          std::size_t used = 0;
          const int v = std::stoi(t, &used);
          if (used != t.size()) return false;
          out.push_back(v);
        } catch (const std::exception&) { return false; }
      }
      return true;
    };
    auto one = [&](long long& out) -> bool {
      if (tok.size() != 1) return false;
      try {
        std::size_t used = 0;
        out = std::stoll(tok[0], &used);
        return used == tok[0].size() && out >= 0;
      } catch (const std::exception&) { return false; }
    };
    if (key == "VERSION" || key == "VIEWPOINT") continue;
    if (key == "FIELDS" || key == "COLUMNS") { fields = tok; continue; }
    if (key == "SIZE") { if (!ints(sizes)) return header_err("SIZE", "not integers"); continue; }
    if (key == "COUNT") { if (!ints(counts)) return header_err("COUNT", "not integers"); continue; }
    if (key == "TYPE") {
      types.clear();
      for (const auto& t : tok) {
        if (t.size() != 1 || (t[0] != 'F' && t[0] != 'I' && t[0] != 'U')) return header_err("TYPE", "unknown type '" + t + "'");
        types.push_back(t[0]);
      }
      continue;
    }
    if (key == "WIDTH") { if (!one(width)) return header_err("WIDTH", "not a count"); continue; }
    if (key == "HEIGHT") { if (!one(height)) return header_err("HEIGHT", "not a count"); continue; }
    if (key == "POINTS") { if (!one(points)) return header_err("POINTS", "not a count"); continue; }
    if (key == "DATA") {
      if (tok.size() != 1) return header_err("DATA", "expected ascii, binary or binary_compressed");
      data = tok[0];
      break;
    }
    return file_error(ErrorCode::Corrupt, file, "unknown header line '" + line.substr(0, 40) + "'");
  }
  if (data.empty()) return file_error(ErrorCode::Truncated, file, "header field 'DATA' missing (file cut short?)");
  if (data != "ascii" && data != "binary" && data != "binary_compressed")
    return header_err("DATA", "unknown value '" + data + "'");
  if (fields.empty()) return header_err("FIELDS", "missing");
  if (counts.empty()) counts.assign(fields.size(), 1);
  if (sizes.size() != fields.size()) return header_err("SIZE", "needs one value per field");
  if (types.size() != fields.size()) return header_err("TYPE", "needs one value per field");
  if (counts.size() != fields.size()) return header_err("COUNT", "needs one value per field");
  if (width < 0) return header_err("WIDTH", "missing");
  if (points < 0) points = width * height;
  if (points != width * height) return header_err("POINTS", "differs from WIDTH x HEIGHT");
  std::size_t point_step = 0;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (sizes[i] != 1 && sizes[i] != 2 && sizes[i] != 4 && sizes[i] != 8) return header_err("SIZE", "unsupported size for '" + fields[i] + "'");
    if (counts[i] < 1 || counts[i] > 1 << 16) return header_err("COUNT", "bad count for '" + fields[i] + "'");
    point_step += static_cast<std::size_t>(sizes[i]) * static_cast<std::size_t>(counts[i]);
  }
  if (points > (1ll << 32)) return header_err("POINTS", "implausibly large");
  const std::size_t n = static_cast<std::size_t>(points);
  if (points_out) *points_out = n;
  const std::size_t body = bytes.size() - pos;
  if (data == "binary") {
    if (body < n * point_step) return file_error(ErrorCode::Truncated, file, "binary body shorter than POINTS x point size");
  } else if (data == "binary_compressed") {
    if (n == 0) return std::nullopt;
    if (body < 8) return file_error(ErrorCode::Truncated, file, "binary_compressed body has no size words");
    std::uint32_t compressed = 0, uncompressed = 0;
    std::memcpy(&compressed, bytes.data() + pos, 4);
    std::memcpy(&uncompressed, bytes.data() + pos + 4, 4);
    if (static_cast<std::size_t>(compressed) > body - 8) return file_error(ErrorCode::Truncated, file, "binary_compressed body shorter than its compressed size");
    if (static_cast<std::size_t>(uncompressed) != n * point_step)
      return file_error(ErrorCode::Corrupt, file, "binary_compressed uncompressed size differs from POINTS x point size");
  } else {
    std::size_t lines = 0;
    for (std::size_t i = pos; i < bytes.size(); ++i)
      if (bytes[i] == '\n') ++lines;
    if (!bytes.empty() && bytes.back() != '\n' && body > 0) ++lines;
    if (lines < n) return file_error(ErrorCode::Truncated, file, "ascii body has fewer lines than POINTS");
    // The last record must be complete (a cut inside the last line leaves fewer values).
    std::size_t values = 0;
    for (std::size_t i = 0; i < fields.size(); ++i) values += static_cast<std::size_t>(counts[i]);
    std::size_t end = bytes.size();
    while (end > pos && (bytes[end - 1] == '\n' || bytes[end - 1] == '\r' || bytes[end - 1] == ' ')) --end;
    const std::size_t start = bytes.rfind('\n', end == 0 ? 0 : end - 1);
    std::istringstream last(bytes.substr(start == std::string::npos || start < pos ? pos : start + 1, end - (start == std::string::npos || start < pos ? pos : start + 1)));
    std::size_t got = 0;
    for (std::string t; last >> t;) ++got;
    if (n > 0 && got != values) return file_error(ErrorCode::Truncated, file, "ascii last record has " + std::to_string(got) + " values, FIELDS/COUNT need " + std::to_string(values));
  }
  return std::nullopt;
}

}  // namespace

Expected<PointCloud> read_pcd(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return file_error(ErrorCode::Missing, file, "no such file");
  {
    std::string bytes;
    if (!detail::read_file(file, bytes)) return file_error(ErrorCode::Io, file, "cannot read");
    std::size_t points = 0;
    if (auto e = validate_pcd(file, bytes, &points)) return *e;
    if (points == 0) return PointCloud{};  // a valid empty scan (e.g. a camera-only agent); PCL refuses these
  }
  pcl::PCLPointCloud2 c;
  Eigen::Vector4f origin;
  Eigen::Quaternionf orientation;
  int version = 0;
  pcl::PCDReader reader;
  int rc = -1;
  try {
    rc = reader.read(file.string(), c, origin, orientation, version);
  } catch (const std::exception& e) {  // PCL signals a few header problems by exception
    return file_error(ErrorCode::Corrupt, file, std::string("PCL cannot read it: ") + e.what());
  }
  if (rc < 0) return file_error(ErrorCode::Corrupt, file, "PCL cannot read it (header or body corrupt or truncated)");
  const std::size_t n = static_cast<std::size_t>(c.width) * c.height;
  if (c.point_step == 0 && n > 0) return file_error(ErrorCode::Corrupt, file, "zero point size");
  if (c.data.size() < n * c.point_step)
    return file_error(ErrorCode::Truncated, file, "body holds fewer points than POINTS says");

  const auto* fx = find_field(c, {"x"});
  const auto* fy = find_field(c, {"y"});
  const auto* fz = find_field(c, {"z"});
  if (!fx || !fy || !fz) return file_error(ErrorCode::Missing, file, std::string("field '") + (!fx ? "x" : !fy ? "y" : "z") + "' missing");
  for (const auto* f : {fx, fy, fz})
    if (auto e = check_field(c, *f, file)) return *e;
  const auto* fi = find_field(c, {"intensity", "i", "reflectance"});
  const auto* frgb = fi ? nullptr : find_field(c, {"rgb", "rgba"});
  const auto* ft_rel = find_field(c, {"time", "t", "offset_time"});
  const auto* ft_abs = ft_rel ? nullptr : find_field(c, {"timestamp"});
  for (const auto* f : {fi, frgb, ft_rel, ft_abs})
    if (f)
      if (auto e = check_field(c, *f, file)) return *e;
  if (frgb && datatype_size(frgb->datatype) != 4)
    return file_error(ErrorCode::Corrupt, file, "field '" + frgb->name + "' is not 4 bytes wide");

  PointCloud cloud;
  cloud.reserve(n);
  const auto* ft = ft_rel ? ft_rel : ft_abs;
  std::vector<double> times;
  if (ft) times.reserve(n);
  const bool intensity_u8 = fi && fi->datatype == pcl::PCLPointField::UINT8;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = c.data.data() + i * c.point_step;
    float inten = 0.f;
    if (fi) {
      const double v = read_scalar(p + fi->offset, fi->datatype);
      inten = static_cast<float>(intensity_u8 ? v / 255.0 : v);
    } else if (frgb) {
      std::uint32_t bits;
      std::memcpy(&bits, p + frgb->offset, 4);
      inten = static_cast<float>(static_cast<double>((bits >> 16) & 0xffu) / 255.0);
    }
    cloud.push_back(static_cast<float>(read_scalar(p + fx->offset, fx->datatype)),
                    static_cast<float>(read_scalar(p + fy->offset, fy->datatype)),
                    static_cast<float>(read_scalar(p + fz->offset, fz->datatype)), inten);
    if (ft) times.push_back(read_scalar(p + ft->offset, ft->datatype));
  }
  if (ft) {
    if (ft_abs && !times.empty()) {
      const double t0 = *std::min_element(times.begin(), times.end());
      for (auto& t : times) t -= t0;
    }
    cloud.time_s = std::move(times);
  }
  return cloud;
}

void write_pcd(const PointCloud& cloud, const fs::path& file, const PcdWriteOptions& opt) {
  pcl::PCLPointCloud2 c;
  c.height = 1;
  c.width = static_cast<std::uint32_t>(cloud.size());
  c.is_dense = false;
  c.is_bigendian = false;
  auto add = [&c](const char* name, std::uint8_t type, std::uint32_t size) {
    pcl::PCLPointField f;
    f.name = name;
    f.offset = c.point_step;
    f.datatype = type;
    f.count = 1;
    c.fields.push_back(f);
    c.point_step += size;
  };
  add("x", pcl::PCLPointField::FLOAT32, 4);
  add("y", pcl::PCLPointField::FLOAT32, 4);
  add("z", pcl::PCLPointField::FLOAT32, 4);
  add(opt.intensity == PcdIntensity::RgbPacked ? "rgb" : "intensity", pcl::PCLPointField::FLOAT32, 4);
  const bool with_time = opt.write_time && cloud.time_s && cloud.time_s->size() == cloud.size();
  if (with_time) add("time", pcl::PCLPointField::FLOAT64, 8);
  c.row_step = c.point_step * c.width;
  c.data.assign(static_cast<std::size_t>(c.row_step), 0);
  for (std::size_t i = 0; i < cloud.size(); ++i) {
    std::uint8_t* p = c.data.data() + i * c.point_step;
    std::memcpy(p + 0, &cloud.x[i], 4);
    std::memcpy(p + 4, &cloud.y[i], 4);
    std::memcpy(p + 8, &cloud.z[i], 4);
    if (opt.intensity == PcdIntensity::RgbPacked) {
      const float v = cloud.intensity[i];
      const double clamped = std::isfinite(v) ? std::clamp(static_cast<double>(v), 0.0, 1.0) : 0.0;
      const std::uint32_t r = static_cast<std::uint32_t>(std::lround(clamped * 255.0));
      const std::uint32_t bits = r << 16;
      std::memcpy(p + 12, &bits, 4);
    } else {
      std::memcpy(p + 12, &cloud.intensity[i], 4);
    }
    if (with_time) std::memcpy(p + 16, &(*cloud.time_s)[i], 8);
  }
  pcl::PCDWriter writer;
  const Eigen::Vector4f origin = Eigen::Vector4f::Zero();
  const Eigen::Quaternionf orientation = Eigen::Quaternionf::Identity();
  switch (opt.encoding) {
    case PcdEncoding::Ascii:
      detail::write_via_temp(file, [&](const std::string& tmp) {
        // precision 9 parses back to the same float32, 17 to the same float64 (the time field).
        return writer.writeASCII(tmp, c, origin, orientation, with_time ? 17 : 9) == 0;
      });
      return;
    case PcdEncoding::Binary: {
      // Header + raw records, built in memory: PCL's file writer pads binary files with zeros to a page.
      std::string bytes = writer.generateHeaderBinary(c, origin, orientation);
      bytes += "DATA binary\n";
      bytes.append(reinterpret_cast<const char*>(c.data.data()), c.data.size());
      detail::write_file_atomic(file, bytes);
      return;
    }
    case PcdEncoding::BinaryCompressed: {
      std::ostringstream os(std::ios::binary);
      if (writer.writeBinaryCompressed(os, c, origin, orientation) != 0)
        throw std::runtime_error(file.string() + ": PCL cannot compress the cloud");
      detail::write_file_atomic(file, os.str());
      return;
    }
  }
}

Expected<PointCloud> read_kitti_bin(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return file_error(ErrorCode::Missing, file, "no such file");
  std::string bytes;
  if (!detail::read_file(file, bytes)) return file_error(ErrorCode::Io, file, "cannot read");
  if (bytes.size() % 16 != 0)
    return file_error(ErrorCode::Truncated, file, "size " + std::to_string(bytes.size()) + " is not a multiple of 16 (float32 x, y, z, reflectance)");
  const std::size_t n = bytes.size() / 16;
  PointCloud cloud;
  cloud.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    float v[4];
    std::memcpy(v, bytes.data() + i * 16, 16);
    cloud.push_back(v[0], v[1], v[2], v[3]);
  }
  return cloud;
}

void write_kitti_bin(const PointCloud& cloud, const fs::path& file) {
  std::string bytes(cloud.size() * 16, '\0');
  for (std::size_t i = 0; i < cloud.size(); ++i) {
    const float v[4] = {cloud.x[i], cloud.y[i], cloud.z[i], cloud.intensity[i]};
    std::memcpy(bytes.data() + i * 16, v, 16);
  }
  detail::write_file_atomic(file, bytes);
}

}  // namespace v2x::sensors
