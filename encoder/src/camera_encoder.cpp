#include "v2x/encoder/camera_encoder.hpp"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "v2x/detection/anchors.hpp"
#include "v2x/detection/decoder.hpp"
#include "v2x/encoder/camera_net.hpp"
#include "v2x/encoder/manifest.hpp"

namespace v2x::encoder {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

nlohmann::ordered_json camera_config_to_json(const CameraBranchConfig& cfg) {
  CameraBranchConfig c = cfg;
  return config_to_json(c);
}

std::vector<std::string> camera_manifest_differences(const nlohmann::json& m, const DetectorConfig& det,
                                                     const CameraBranchConfig& cam) {
  std::vector<std::string> d;
  if (!m.contains("detector") || !m.contains("camera")) return {"manifest lacks 'detector' or 'camera'"};
  const DetectorConfig mdet = detector_config_from_json(m["detector"], "camera manifest");
  for (auto& s : architecture_differences(mdet, det)) d.push_back("detector." + s);
  const nlohmann::json want = nlohmann::json::parse(camera_config_to_json(cam).dump());
  for (auto it = want.begin(); it != want.end(); ++it) {
    if (!m["camera"].contains(it.key()))
      d.push_back("camera." + it.key() + ": absent vs " + it.value().dump());
    else if (m["camera"][it.key()] != it.value())
      d.push_back("camera." + it.key() + ": " + m["camera"][it.key()].dump() + " vs " + it.value().dump());
  }
  return d;
}

struct CameraEncoder::Impl {
  DetectorConfig det;
  CameraBranchConfig cam;
  BevGrid grid;
  std::unique_ptr<CameraInputBuilder> builder;
  CameraDetectorNet net{nullptr};
  ModalityFusion fusion{nullptr};
  detection::AnchorGrid anchors;
  CameraInputStats totals;
  bool has_fusion = false;

  void init(const DetectorConfig& d, const CameraBranchConfig& c) {
    det = d;
    cam = c;
    grid = d.feature_grid();
    builder = std::make_unique<CameraInputBuilder>(c, grid);
    net = CameraDetectorNet(d, c);
    fusion = ModalityFusion(d.net.out_channels);
    anchors = detection::generate_anchors(d.anchor_config());
    at::set_num_threads(d.num_threads);
  }
};

CameraEncoder::CameraEncoder() : impl_(std::make_unique<Impl>()) {}
CameraEncoder::~CameraEncoder() = default;

CameraEncoder::CameraEncoder(const std::string& model_dir, const DetectorConfig& det, const CameraBranchConfig& cam)
    : CameraEncoder() {
  const std::string mf = model_dir + "/" + kCameraManifestFile;
  std::ifstream in(mf);
  if (!in) throw std::runtime_error(mf + ": cannot read the camera model manifest");
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error(mf + ": malformed JSON: " + e.what());
  }
  const auto diff = camera_manifest_differences(m, det, cam);
  if (!diff.empty()) {
    std::string s = mf + ": the weights do not fit this configuration:";
    for (const auto& x : diff) s += "\n  " + x;
    throw std::runtime_error(s);
  }
  impl_->init(det, cam);
  const std::string wf = model_dir + "/" + m.value("weights_file", std::string("camera_weights.pt"));
  try {
    torch::load(impl_->net, wf);
    impl_->has_fusion = m.value("has_fusion", false);
    if (impl_->has_fusion) torch::load(impl_->fusion, model_dir + "/" + m.value("fusion_file", std::string("fusion.pt")));
  } catch (const std::exception& e) {
    throw std::runtime_error(wf + ": cannot load the camera weights: " + e.what());
  }
  impl_->net->eval();
  impl_->fusion->eval();
}

namespace {
CameraBranchConfig manifest_camera_config(const std::string& model_dir) {
  const std::string mf = model_dir + "/" + kCameraManifestFile;
  std::ifstream in(mf);
  if (!in) throw std::runtime_error(mf + ": cannot read the camera model manifest");
  try {
    const nlohmann::json m = nlohmann::json::parse(in);
    return camera_config_from_json(m.at("camera"), mf);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error(mf + ": malformed camera manifest: " + e.what());
  }
}
}  // namespace

CameraEncoder::CameraEncoder(const std::string& model_dir, const DetectorConfig& det)
    : CameraEncoder(model_dir, det, manifest_camera_config(model_dir)) {}

std::unique_ptr<CameraEncoder> CameraEncoder::untrained(const DetectorConfig& det, const CameraBranchConfig& cam,
                                                        std::uint64_t seed) {
  torch::manual_seed(seed);
  std::unique_ptr<CameraEncoder> e(new CameraEncoder());
  e->impl_->init(det, cam);
  e->impl_->net->eval();
  e->impl_->fusion->eval();
  return e;
}

bool CameraEncoder::has_fusion() const { return impl_->has_fusion; }
const CameraBranchConfig& CameraEncoder::camera_config() const { return impl_->cam; }
const DetectorConfig& CameraEncoder::detector_config() const { return impl_->det; }
const CameraInputStats& CameraEncoder::totals() const { return impl_->totals; }

Expected<CameraEncodeOutput> CameraEncoder::encode(const std::vector<CameraFrame>& cameras, AgentId agent,
                                                   TimestampNs stamp_ns) {
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  CameraEncodeOutput out;
  const int C = m.det.net.out_channels, H = m.grid.height(), W = m.grid.width();
  out.features = FeatureMap(C, H, W);
  out.features.grid = m.grid;
  out.features.agent = agent;
  out.features.stamp_ns = stamp_ns;
  out.features.confidence.assign(static_cast<std::size_t>(H) * W, 0.f);
  out.detections.agent = agent;
  out.detections.stamp_ns = stamp_ns;
  CameraBatch batch;
  try {
    batch = m.builder->build({&cameras}, &out.cameras);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::Corrupt, std::string("CameraEncoder: preparing the images failed: ") + e.what());
  }
  m.totals.add(out.cameras);
  if (out.cameras.dropped() > 0)
    std::fprintf(stderr, "camera encoder: agent %llu: %d camera(s) dropped (missing image %d, corrupt %d, no calibration %d, over capacity %d)\n",
                 static_cast<unsigned long long>(agent), out.cameras.dropped(), out.cameras.missing_image,
                 out.cameras.corrupt_image, out.cameras.missing_calibration, out.cameras.over_capacity);
  out.prepare_ms = ms_since(t0);
  if (out.cameras.used == 0) {
    out.total_ms = ms_since(t0);
    return out;
  }
  out.modality = kModalityCamera;
  std::vector<float> cls, box, dir;
  try {
    const auto t1 = std::chrono::steady_clock::now();
    torch::NoGradGuard ng;
    const HeadOutput h = m.net->forward(batch);
    const auto f = h.features.contiguous();
    std::copy(f.data_ptr<float>(), f.data_ptr<float>() + f.numel(), out.features.data.begin());
    const auto conf = torch::sigmoid(h.cls).amax(-1).contiguous();
    std::copy(conf.data_ptr<float>(), conf.data_ptr<float>() + conf.numel(), out.features.confidence.begin());
    auto take = [](const torch::Tensor& t, std::vector<float>& v) {
      const auto c = t.contiguous();
      v.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    };
    take(h.cls, cls), take(h.box, box), take(h.dir, dir);
    out.network_ms = ms_since(t1);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::Corrupt, std::string("CameraEncoder: network failed: ") + e.what());
  }
  const auto t2 = std::chrono::steady_clock::now();
  DecodedHead d = decode_detections(m.det, m.anchors, cls.data(), box.data(), dir.data(), out.features);
  out.detections.detections = std::move(d.detections);
  out.proposals = std::move(d.proposals);
  out.decode_ms = ms_since(t2);
  out.total_ms = ms_since(t0);
  return out;
}

Expected<FeatureMap> CameraEncoder::fuse(const FeatureMap& lidar, const FeatureMap& camera) {
  Impl& m = *impl_;
  if (lidar.channels != m.det.net.out_channels || camera.channels != lidar.channels ||
      camera.height != lidar.height || camera.width != lidar.width || !(camera.grid == lidar.grid) ||
      lidar.data.size() != static_cast<std::size_t>(lidar.channels) * lidar.cells() ||
      camera.data.size() != lidar.data.size())
    return make_error(ErrorCode::Mismatch, "CameraEncoder::fuse: LiDAR and camera maps differ in shape or grid");
  FeatureMap out = lidar;
  try {
    torch::NoGradGuard ng;
    const auto opts = torch::TensorOptions().dtype(torch::kFloat32);
    const auto l = torch::from_blob(const_cast<float*>(lidar.data.data()), {1, lidar.channels, lidar.height, lidar.width}, opts);
    const auto c = torch::from_blob(const_cast<float*>(camera.data.data()), {1, camera.channels, camera.height, camera.width}, opts);
    const auto f = m.fusion->forward(l, c).contiguous();
    std::copy(f.data_ptr<float>(), f.data_ptr<float>() + f.numel(), out.data.begin());
  } catch (const std::exception& e) {
    return make_error(ErrorCode::Corrupt, std::string("CameraEncoder::fuse: ") + e.what());
  }
  return out;
}

}  // namespace v2x::encoder
