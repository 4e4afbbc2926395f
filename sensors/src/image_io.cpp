#include "v2x/sensors/image_io.hpp"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstring>

#include "file_util.hpp"

namespace v2x::sensors {

namespace fs = std::filesystem;

namespace {
cv::Mat decode(const fs::path& file, int flags, Error& err, bool& ok) {
  ok = false;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    err = make_error(ErrorCode::Missing, file.string() + ": no such file");
    return {};
  }
  std::string bytes;
  if (!detail::read_file(file, bytes)) {
    err = make_error(ErrorCode::Io, file.string() + ": cannot read");
    return {};
  }
  cv::Mat m;
  try {
    m = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, bytes.data()), flags);
  } catch (const cv::Exception& e) {
    m.release();
  }
  if (m.empty()) {
    err = make_error(ErrorCode::Corrupt, file.string() + ": OpenCV cannot decode the image");
    return {};
  }
  ok = true;
  return m;
}

void write_encoded(const cv::Mat& m, const fs::path& file) {
  std::vector<uchar> buf;
  const std::vector<int> params = {cv::IMWRITE_PNG_COMPRESSION, 3};
  if (!cv::imencode(".png", m, buf, params)) throw std::runtime_error(file.string() + ": PNG encoding failed");
  detail::write_file_atomic(file, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}
}  // namespace

Expected<Image> read_image_rgb(const fs::path& file) {
  Error err{ErrorCode::Corrupt, ""};
  bool ok = false;
  cv::Mat m = decode(file, cv::IMREAD_COLOR, err, ok);
  if (!ok) return err;
  if (m.depth() != CV_8U) return make_error(ErrorCode::Corrupt, file.string() + ": not an 8-bit image");
  cv::Mat rgb;
  cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB);
  Image img;
  img.width = rgb.cols;
  img.height = rgb.rows;
  img.channels = 3;
  img.rgb.resize(static_cast<std::size_t>(img.width) * img.height * 3);
  for (int r = 0; r < rgb.rows; ++r)
    std::memcpy(img.rgb.data() + static_cast<std::size_t>(r) * img.width * 3, rgb.ptr(r), static_cast<std::size_t>(img.width) * 3);
  return img;
}

void write_png_rgb(const Image& img, const fs::path& file) {
  if (img.channels != 3 || img.rgb.size() != static_cast<std::size_t>(img.width) * img.height * 3)
    throw std::runtime_error(file.string() + ": image is not a consistent RGB image");
  cv::Mat rgb(img.height, img.width, CV_8UC3, const_cast<std::uint8_t*>(img.rgb.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  write_encoded(bgr, file);
}

Expected<Image> read_depth_png(const fs::path& file) {
  Error err{ErrorCode::Corrupt, ""};
  bool ok = false;
  cv::Mat m = decode(file, cv::IMREAD_UNCHANGED, err, ok);
  if (!ok) return err;
  if (m.type() != CV_16UC1) return make_error(ErrorCode::Corrupt, file.string() + ": depth PNG is not 16-bit single-channel");
  Image img;
  img.width = m.cols;
  img.height = m.rows;
  img.channels = 1;
  img.depth_m.resize(static_cast<std::size_t>(img.width) * img.height);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c)
      img.depth_m[static_cast<std::size_t>(r) * img.width + c] = static_cast<float>(m.at<std::uint16_t>(r, c)) * 1e-3f;
  return img;
}

void write_depth_png(const Image& img, const fs::path& file) {
  if (img.channels != 1 || img.depth_m.size() != static_cast<std::size_t>(img.width) * img.height)
    throw std::runtime_error(file.string() + ": image is not a consistent depth image");
  cv::Mat m(img.height, img.width, CV_16UC1);
  for (int r = 0; r < img.height; ++r)
    for (int c = 0; c < img.width; ++c) {
      const float d = img.depth_m[static_cast<std::size_t>(r) * img.width + c];
      const double mm = std::isfinite(d) ? std::round(static_cast<double>(d) * 1000.0) : 0.0;
      m.at<std::uint16_t>(r, c) = (mm > 0.0 && mm <= 65535.0) ? static_cast<std::uint16_t>(mm) : 0;
    }
  write_encoded(m, file);
}

}  // namespace v2x::sensors
