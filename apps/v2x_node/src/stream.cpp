#include "v2x/live/stream.hpp"

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace v2x::live {
namespace {
nlohmann::json pose_json(const Pose& T) {
  nlohmann::json a = nlohmann::json::array();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) a.push_back(T.matrix()(r, c));
  return a;
}
std::optional<Pose> pose_from(const nlohmann::json& a) {
  if (!a.is_array() || a.size() != 16) return std::nullopt;
  Eigen::Matrix4d m;
  for (int k = 0; k < 16; ++k) {
    if (!a[k].is_number()) return std::nullopt;
    m(k / 4, k % 4) = a[k].get<double>();
    if (!std::isfinite(m(k / 4, k % 4))) return std::nullopt;
  }
  Pose T = Pose::Identity();
  T.matrix() = m;
  T.makeAffine();
  return T;
}
static_assert(std::endian::native == std::endian::little, "stream body is little-endian float32");

bool sendable(const CameraFrame& c) {
  return c.image.channels == 3 && c.image.width > 0 && c.image.height > 0 &&
         c.image.rgb.size() == static_cast<std::size_t>(c.image.width) * c.image.height * 3;
}
}  // namespace

std::string detections_topic(AgentId id) {
  char b[16];
  std::snprintf(b, sizeof b, "det%08x", static_cast<unsigned>(static_cast<std::uint32_t>(id)));
  return b;
}

std::string encode_frame_header(const StreamFrame& f) {
  nlohmann::json j;
  j["frame"] = f.frame;
  j["scenario"] = f.scenario;
  j["timestamp"] = f.timestamp;
  j["stamp_ns"] = f.agent.stamp_ns;
  j["agent"] = f.agent.id;
  j["is_rsu"] = f.agent.is_rsu;
  j["speed_mps"] = f.agent.speed_mps;
  j["T_world_lidar"] = pose_json(f.agent.T_world_lidar);
  j["T_world_lidar_noisy"] = f.agent.T_world_lidar_noisy ? pose_json(*f.agent.T_world_lidar_noisy) : nlohmann::json();
  j["points"] = f.agent.cloud.size();
  nlohmann::json cams = nlohmann::json::array();
  for (const CameraFrame& c : f.agent.cameras)
    if (sendable(c))
      cams.push_back({{"name", c.name}, {"width", c.image.width}, {"height", c.image.height}, {"fx", c.calib.fx},
                      {"fy", c.calib.fy}, {"cx", c.calib.cx}, {"cy", c.calib.cy},
                      {"T_lidar_camera", pose_json(c.calib.T_lidar_camera)}});
  if (!cams.empty()) j["cameras"] = cams;
  return j.dump();
}

std::vector<std::uint8_t> encode_frame_body(const AgentFrame& a) {
  const PointCloud& c = a.cloud;
  const std::size_t n = c.size();
  std::size_t image_bytes = 0;
  for (const CameraFrame& cam : a.cameras)
    if (sendable(cam)) image_bytes += cam.image.rgb.size();
  std::vector<std::uint8_t> out(16 * n + image_bytes);
  auto put = [&](std::size_t k, const std::vector<float>& v) {
    if (v.size() == n) std::memcpy(out.data() + 4 * n * k, v.data(), 4 * n);
  };
  put(0, c.x);
  put(1, c.y);
  put(2, c.z);
  put(3, c.intensity);
  std::size_t at = 16 * n;
  for (const CameraFrame& cam : a.cameras)
    if (sendable(cam)) {
      std::memcpy(out.data() + at, cam.image.rgb.data(), cam.image.rgb.size());
      at += cam.image.rgb.size();
    }
  return out;
}

Expected<StreamFrame> decode_frame(const std::string& header, const void* body, std::size_t body_bytes) {
  if (header.size() > kMaxHeaderBytes) return Error{ErrorCode::OutOfRange, "frame header too large"};
  const nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Error{ErrorCode::Corrupt, "frame header is not a JSON object"};
  try {
    StreamFrame f;
    f.frame = j.at("frame").get<std::int64_t>();
    f.scenario = j.at("scenario").get<std::string>();
    f.timestamp = j.at("timestamp").get<std::string>();
    f.agent.stamp_ns = j.at("stamp_ns").get<std::int64_t>();
    f.agent.id = j.at("agent").get<AgentId>();
    f.agent.is_rsu = j.at("is_rsu").get<bool>();
    f.agent.speed_mps = j.at("speed_mps").get<double>();
    const auto T = pose_from(j.at("T_world_lidar"));
    if (!T) return Error{ErrorCode::Corrupt, "bad T_world_lidar"};
    f.agent.T_world_lidar = *T;
    if (!j.at("T_world_lidar_noisy").is_null()) {
      const auto Tn = pose_from(j.at("T_world_lidar_noisy"));
      if (!Tn) return Error{ErrorCode::Corrupt, "bad T_world_lidar_noisy"};
      f.agent.T_world_lidar_noisy = *Tn;
    }
    const auto n = j.at("points").get<std::uint64_t>();
    if (n > kMaxStreamPoints) return Error{ErrorCode::OutOfRange, "too many points"};
    // Cameras: bounded before any allocation; the body must hold exactly the points and the images.
    std::size_t image_bytes = 0;
    if (j.contains("cameras")) {
      const auto& cams = j.at("cameras");
      if (!cams.is_array() || cams.size() > kMaxStreamCameras) return Error{ErrorCode::OutOfRange, "bad 'cameras' list"};
      for (const auto& cj : cams) {
        CameraFrame cam;
        cam.name = cj.at("name").get<std::string>();
        const int w = cj.at("width").get<int>(), h = cj.at("height").get<int>();
        if (w < 1 || h < 1 || w > kMaxStreamImageSide || h > kMaxStreamImageSide)
          return Error{ErrorCode::OutOfRange, "camera '" + cam.name + "': image size out of range"};
        cam.calib.width = w, cam.calib.height = h;
        cam.calib.fx = cj.at("fx").get<double>(), cam.calib.fy = cj.at("fy").get<double>();
        cam.calib.cx = cj.at("cx").get<double>(), cam.calib.cy = cj.at("cy").get<double>();
        const auto Tc = pose_from(cj.at("T_lidar_camera"));
        if (!Tc) return Error{ErrorCode::Corrupt, "camera '" + cam.name + "': bad T_lidar_camera"};
        cam.calib.T_lidar_camera = *Tc;
        cam.image.width = w, cam.image.height = h, cam.image.channels = 3;
        image_bytes += static_cast<std::size_t>(w) * h * 3;
        f.agent.cameras.push_back(std::move(cam));
      }
    }
    if (body_bytes != 16 * n + image_bytes)
      return Error{ErrorCode::Truncated, "body size does not match the point count and the camera images"};
    const auto* b = static_cast<const std::uint8_t*>(body);
    auto get = [&](std::size_t k, std::vector<float>& v) {
      v.resize(n);
      if (n) std::memcpy(v.data(), b + 4 * n * k, 4 * n);
    };
    get(0, f.agent.cloud.x);
    get(1, f.agent.cloud.y);
    get(2, f.agent.cloud.z);
    get(3, f.agent.cloud.intensity);
    std::size_t at = 16 * n;
    for (CameraFrame& cam : f.agent.cameras) {
      const std::size_t bytes = static_cast<std::size_t>(cam.image.width) * cam.image.height * 3;
      cam.image.rgb.assign(b + at, b + at + bytes);
      at += bytes;
    }
    return f;
  } catch (const nlohmann::json::exception& e) {
    return Error{ErrorCode::Corrupt, std::string("frame header: ") + e.what()};
  }
}

nlohmann::json to_json(const DetectionsMessage& m) {
  nlohmann::ordered_json j;
  j["agent"] = m.agent;
  j["frame"] = m.frame;
  j["scenario"] = m.scenario;
  j["timestamp"] = m.timestamp;
  j["stamp_ns"] = m.stamp_ns;
  j["wall_ns"] = m.wall_ns;
  j["fusion"] = m.fusion;
  auto dets = nlohmann::json::array();
  for (const auto& d : m.detections)
    dets.push_back({d.box.center.x(), d.box.center.y(), d.box.center.z(), d.box.l_m, d.box.w_m, d.box.h_m,
                    d.box.yaw_rad, d.score});
  j["detections"] = dets;
  nlohmann::ordered_json ms;
  for (const auto& [k, v] : m.ms) ms[k] = v;
  j["ms"] = ms;
  j["bytes_sent"] = m.bytes_sent;
  j["datagrams_sent"] = m.datagrams_sent;
  j["datagrams_received"] = m.datagrams_received;
  j["peers_heard"] = m.peers_heard;
  j["peers_used"] = m.peers_used;
  j["members"] = m.members;
  j["heard_from"] = m.heard_from;
  j["dropped"] = m.dropped;
  j["totals"] = m.totals;
  return nlohmann::json(j);
}

std::optional<DetectionsMessage> detections_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  try {
    DetectionsMessage m;
    m.agent = j.at("agent").get<AgentId>();
    m.frame = j.at("frame").get<std::int64_t>();
    m.scenario = j.at("scenario").get<std::string>();
    m.timestamp = j.at("timestamp").get<std::string>();
    m.stamp_ns = j.at("stamp_ns").get<std::int64_t>();
    m.wall_ns = j.at("wall_ns").get<std::int64_t>();
    m.fusion = j.at("fusion").get<std::string>();
    const auto& dets = j.at("detections");
    if (!dets.is_array() || dets.size() > 100000) return std::nullopt;
    for (const auto& a : dets) {
      if (!a.is_array() || a.size() != 8) return std::nullopt;
      Detection d;
      d.box.center = {a[0].get<double>(), a[1].get<double>(), a[2].get<double>()};
      d.box.l_m = a[3].get<double>();
      d.box.w_m = a[4].get<double>();
      d.box.h_m = a[5].get<double>();
      d.box.yaw_rad = a[6].get<double>();
      d.score = a[7].get<float>();
      m.detections.push_back(d);
    }
    for (const auto& [k, v] : j.at("ms").items()) m.ms.emplace_back(k, v.get<double>());
    m.bytes_sent = j.at("bytes_sent").get<std::int64_t>();
    m.datagrams_sent = j.at("datagrams_sent").get<std::int64_t>();
    m.datagrams_received = j.at("datagrams_received").get<std::int64_t>();
    m.peers_heard = j.at("peers_heard").get<int>();
    m.peers_used = j.at("peers_used").get<int>();
    m.members = j.at("members").get<std::vector<AgentId>>();
    m.heard_from = j.at("heard_from").get<std::vector<AgentId>>();
    m.dropped = j.at("dropped").get<std::map<std::string, std::int64_t>>();
    m.totals = j.at("totals").get<std::map<std::string, std::int64_t>>();
    return m;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace v2x::live

namespace v2x::live {
namespace {
struct JsonOut {
  nlohmann::json& j;
  template <class T>
  void operator()(std::string_view k, T& v, Range = {}) {
    if constexpr (std::is_enum_v<T>) j[std::string(k)] = std::string(enum_name(v));
    else j[std::string(k)] = v;
  }
};
struct JsonIn {
  const nlohmann::json& j;
  template <class T>
  void operator()(std::string_view k, T& v, Range = {}) {
    const std::string key(k);
    if (!j.contains(key)) return;
    if constexpr (std::is_enum_v<T>) {
      const auto s = j.at(key).get<std::string>();
      const auto& names = EnumNames<T>::names;
      for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == s) v = static_cast<T>(i);
    } else {
      v = j.at(key).get<T>();
    }
  }
};
}  // namespace

nlohmann::json channel_to_json(comm::ChannelModelConfig c) {
  nlohmann::json j = nlohmann::json::object();
  JsonOut w{j};
  c.visit(w);
  return j;
}

comm::ChannelModelConfig channel_from_json(const nlohmann::json& j) {
  comm::ChannelModelConfig c;
  JsonIn r{j};
  c.visit(r);
  validate_config(c, "WELCOME.channel");
  return c;
}
}  // namespace v2x::live
