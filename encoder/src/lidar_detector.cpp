#include "v2x/encoder/lidar_detector.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "v2x/detection/anchors.hpp"
#include "v2x/encoder/network.hpp"
#include "v2x/encoder/pillarizer.hpp"

namespace v2x::encoder {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

struct LidarDetector::Impl {
  DetectorConfig cfg;
  ModelManifest manifest;
  std::unique_ptr<Pillarizer> pillarizer;
  detection::AnchorGrid anchors;
  DetectorNet net{nullptr};
  std::shared_ptr<DetectionHeadImpl> head;
  BevGrid feature_grid;
  std::int64_t empty_inputs = 0, failures = 0;

  void init(const DetectorConfig& c) {
    DetectorConfig v = c;
    validate_config(v, "DetectorConfig");
    cfg = v;
    pillarizer = std::make_unique<Pillarizer>(cfg.pillars);
    anchors = detection::generate_anchors(cfg.anchor_config());
    feature_grid = cfg.feature_grid();
    net = DetectorNet(cfg);
    head = find_head();
    at::set_num_threads(cfg.num_threads);
  }

  void load(const std::string& model, const DetectorConfig* runtime_cfg) {
    manifest = read_manifest(model);
    const DetectorConfig& c = runtime_cfg ? *runtime_cfg : manifest.config;
    if (runtime_cfg) {
      const auto diffs = architecture_differences(manifest.config, *runtime_cfg);
      if (!diffs.empty()) {
        std::string msg = manifest.dir + "/" + kManifestFile + ": model '" + manifest.name +
                          "' does not match the detector configuration: ";
        for (std::size_t i = 0; i < diffs.size(); ++i) msg += (i ? "; " : "") + diffs[i];
        throw std::runtime_error(msg);
      }
    }
    init(c);
    const std::string w = manifest.weights_path();
    if (!std::filesystem::exists(w)) throw std::runtime_error(w + ": weights file not found");
    try {
      torch::load(net, w);
    } catch (const c10::Error& e) {
      throw std::runtime_error(w + ": cannot load weights: " + std::string(e.what_without_backtrace()));
    }
    net->eval();
    if (manifest.metrics.contains("weights_checksum")) {
      const double want = manifest.metrics["weights_checksum"].get<double>();
      const double got = net->weights_checksum();
      if (std::abs(got - want) > 1e-9 * std::max(1.0, std::abs(want)))
        throw std::runtime_error(w + ": weights checksum " + std::to_string(got) + " differs from the manifest's " +
                                 std::to_string(want));
    }
    net->fold_batchnorm_for_inference();
  }

  // The head is DetectorNet's registered child "head" (run_head applies it to other maps).
  std::shared_ptr<DetectionHeadImpl> find_head() const {
    for (const auto& kv : net->named_children())
      if (kv.key() == "head") return std::dynamic_pointer_cast<DetectionHeadImpl>(kv.value());
    throw std::logic_error("LidarDetector: DetectorNet has no 'head' module");
  }

  // Head outputs of batch element 0 → confidence (and the map when copy_features) in `out`, raw cls/box/dir.
  static void head_outputs(const HeadOutput& h, DetectorOutput& out, std::vector<float>& cls, std::vector<float>& box,
                           std::vector<float>& dir, bool copy_features) {
    if (copy_features) {
      const auto f = h.features.contiguous();
      std::copy(f.data_ptr<float>(), f.data_ptr<float>() + f.numel(), out.features.data.begin());
    }
    const auto conf = torch::sigmoid(h.cls).amax(-1).contiguous();  // (1, H, W)
    std::copy(conf.data_ptr<float>(), conf.data_ptr<float>() + conf.numel(), out.features.confidence.begin());
    auto take = [](const torch::Tensor& t, std::vector<float>& v) {
      const auto c = t.contiguous();
      v.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    };
    take(h.cls, cls);
    take(h.box, box);
    take(h.dir, dir);
  }

  void decode_into(const std::vector<float>& cls, const std::vector<float>& box, const std::vector<float>& dir,
                   DetectorOutput& out) const {
    DecodedHead d = decode_detections(cfg, anchors, cls.data(), box.data(), dir.data(), out.features);
    out.detections.detections = std::move(d.detections);
    out.proposals = std::move(d.proposals);
    out.decode_stats = d.stats;
  }
};

LidarDetector::LidarDetector() : impl_(std::make_unique<Impl>()) {}
LidarDetector::~LidarDetector() = default;

LidarDetector::LidarDetector(const std::string& model, const DetectorConfig& cfg) : LidarDetector() {
  impl_->load(model, &cfg);
}
LidarDetector::LidarDetector(const std::string& model) : LidarDetector() { impl_->load(model, nullptr); }

std::unique_ptr<LidarDetector> LidarDetector::untrained(const DetectorConfig& cfg, std::uint64_t seed) {
  std::unique_ptr<LidarDetector> d(new LidarDetector());
  torch::manual_seed(seed);
  d->impl_->init(cfg);
  d->impl_->manifest.config = d->impl_->cfg;
  d->impl_->net->eval();
  return d;
}

const DetectorConfig& LidarDetector::config() const { return impl_->cfg; }
const ModelManifest& LidarDetector::manifest() const { return impl_->manifest; }
std::int64_t LidarDetector::empty_inputs() const { return impl_->empty_inputs; }
std::int64_t LidarDetector::failures() const { return impl_->failures; }

Expected<DetectorOutput> LidarDetector::run(const PointCloud& cloud, AgentId agent, TimestampNs stamp_ns) {
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  DetectorOutput out;
  const int C = m.cfg.net.out_channels, H = m.feature_grid.height(), W = m.feature_grid.width();
  const int A = m.cfg.anchors.per_cell();
  out.features = FeatureMap(C, H, W);
  out.features.grid = m.feature_grid;
  out.features.agent = agent;
  out.features.stamp_ns = stamp_ns;
  out.features.confidence.assign(static_cast<std::size_t>(H) * W, 0.f);
  out.detections.agent = agent;
  out.detections.stamp_ns = stamp_ns;

  const Pillars p = m.pillarizer->run(cloud);
  out.points_used = p.num_points();
  out.points_invalid = p.points_invalid;
  out.pillars = static_cast<std::size_t>(p.num_pillars);
  out.timings.pillarize_ms = ms_since(t0);
  if (p.num_points() == 0) {
    out.empty_input = true;
    ++m.empty_inputs;
    out.timings.total_ms = ms_since(t0);
    return out;
  }

  std::vector<float> cls, box, dir;
  try {
    const auto t1 = std::chrono::steady_clock::now();
    torch::NoGradGuard no_grad;
    const PillarBatch batch = make_pillar_batch({&p});
    m.head_outputs(m.net->forward(batch), out, cls, box, dir, /*copy_features=*/true);
    out.timings.network_ms = ms_since(t1);
  } catch (const std::exception& e) {
    ++m.failures;
    return make_error(ErrorCode::Corrupt, std::string("LidarDetector: network failed: ") + e.what());
  }
  if (cls.size() != static_cast<std::size_t>(H) * W * A) {
    ++m.failures;
    return make_error(ErrorCode::Mismatch, "LidarDetector: head output size does not match the anchor grid");
  }
  const auto t2 = std::chrono::steady_clock::now();
  m.decode_into(cls, box, dir, out);
  out.timings.decode_ms = ms_since(t2);
  out.timings.total_ms = ms_since(t0);
  return out;
}

Expected<DetectorOutput> LidarDetector::run_head(FeatureMap features) {
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  const int C = m.cfg.net.out_channels, H = m.feature_grid.height(), W = m.feature_grid.width();
  if (features.channels != C || features.height != H || features.width != W || !(features.grid == m.feature_grid) ||
      features.data.size() != static_cast<std::size_t>(C) * H * W)
    return make_error(ErrorCode::Mismatch, "LidarDetector::run_head: the map's shape or grid differs from the detector's");
  DetectorOutput out;
  out.features = std::move(features);
  out.features.confidence.assign(static_cast<std::size_t>(H) * W, 0.f);
  out.detections.agent = out.features.agent;
  out.detections.stamp_ns = out.features.stamp_ns;
  std::vector<float> cls, box, dir;
  try {
    torch::NoGradGuard no_grad;
    const auto map = torch::from_blob(out.features.data.data(), {1, C, H, W}, torch::kFloat32);
    m.head_outputs(m.head->forward(map), out, cls, box, dir, /*copy_features=*/false);
  } catch (const std::exception& e) {
    ++m.failures;
    return make_error(ErrorCode::Corrupt, std::string("LidarDetector: head failed: ") + e.what());
  }
  out.timings.network_ms = ms_since(t0);
  const auto t2 = std::chrono::steady_clock::now();
  m.decode_into(cls, box, dir, out);
  out.timings.decode_ms = ms_since(t2);
  out.timings.total_ms = ms_since(t0);
  return out;
}

DecodedHead decode_detections(const DetectorConfig& cfg, const detection::AnchorGrid& anchors, const float* cls,
                              const float* box, const float* dir, const FeatureMap& features) {
  DecodedHead d;
  // One decode at the lower of the two thresholds: NMS keeps higher scores first, so the detections above
  // score_threshold are those a decode at score_threshold alone would give.
  detection::DecodeConfig dc = cfg.decode;
  dc.score_threshold = std::min(dc.score_threshold, cfg.proposal_score_min);
  dc.max_detections = std::max(dc.max_detections, cfg.num_proposals);
  for (const auto& pr : detection::decode_head(anchors, cls, box, dir, dc, cfg.coder, &d.stats)) {
    if (pr.score > cfg.decode.score_threshold && static_cast<int>(d.detections.size()) < cfg.decode.max_detections)
      d.detections.push_back(Detection{pr.box, pr.score, ObjectClass::Car});
    if (pr.score > cfg.proposal_score_min && static_cast<int>(d.proposals.size()) < cfg.num_proposals)
      d.proposals.push_back(QueryProposal{pr, sample_features(features, pr.box.center.x(), pr.box.center.y())});
  }
  return d;
}

std::vector<float> sample_features(const FeatureMap& fm, double x_m, double y_m) {
  std::vector<float> v(static_cast<std::size_t>(fm.channels), 0.f);
  if (fm.height == 0 || fm.width == 0 || !std::isfinite(x_m) || !std::isfinite(y_m)) return v;
  // Continuous cell coordinates with cell centres at integers.
  const double u = (x_m - fm.grid.x_min_m) / fm.grid.cell_m - 0.5;
  const double w = (y_m - fm.grid.y_min_m) / fm.grid.cell_m - 0.5;
  if (u < -0.5 || w < -0.5 || u > fm.width - 0.5 || w > fm.height - 0.5) return v;
  const int x0 = static_cast<int>(std::floor(u)), y0 = static_cast<int>(std::floor(w));
  const double fx = u - x0, fy = w - y0;
  for (int dy = 0; dy < 2; ++dy)
    for (int dx = 0; dx < 2; ++dx) {
      const int xi = std::clamp(x0 + dx, 0, fm.width - 1), yi = std::clamp(y0 + dy, 0, fm.height - 1);
      const float wt = static_cast<float>((dx ? fx : 1 - fx) * (dy ? fy : 1 - fy));
      if (wt == 0.f) continue;
      for (int c = 0; c < fm.channels; ++c) v[c] += wt * fm.at(c, yi, xi);
    }
  return v;
}

}  // namespace v2x::encoder
