// Camera branch encoding time per agent-frame: 4 OPV2V-size (800×600) cameras → resize to the input size →
// image CNN → lift to the BEV feature grid → BEV convs → head, on 2 LibTorch threads (untrained weights: the
// cost does not depend on the values). Args: lift mode (0 flat_ground, 1 multi_height).
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "v2x/encoder/camera_encoder.hpp"
#include "v2x/sim/sensors.hpp"

namespace {

std::vector<v2x::CameraFrame> opv2v_rig() {
  v2x::sim::CameraConfig cc;  // 800×600, 100° FOV: the OPV2V-like surround rig
  std::vector<v2x::CameraFrame> cams;
  for (int k = 0; k < 4; ++k) {
    v2x::CameraFrame f;
    f.calib = v2x::sim::surround_camera_calib(cc, k);
    f.image.width = cc.width, f.image.height = cc.height, f.image.channels = 3;
    f.image.rgb.resize(static_cast<std::size_t>(cc.width) * cc.height * 3);
    for (std::size_t i = 0; i < f.image.rgb.size(); ++i) f.image.rgb[i] = static_cast<std::uint8_t>((i * 13 + k) % 251);
    cams.push_back(std::move(f));
  }
  return cams;
}

void BM_CameraEncode4x800x600(benchmark::State& st) {
  v2x::encoder::DetectorConfig det;
  det.net.out_channels = 48;  // the slim LiDAR model's C
  det.num_threads = 2;
  v2x::encoder::CameraBranchConfig cam;
  cam.lift = st.range(0) ? v2x::encoder::CameraLift::MultiHeight : v2x::encoder::CameraLift::FlatGround;
  auto enc = v2x::encoder::CameraEncoder::untrained(det, cam, 1);
  at::set_num_threads(2);
  const auto cams = opv2v_rig();
  double prep = 0, net = 0;
  for (auto _ : st) {
    auto out = enc->encode(cams, 1, 0);
    benchmark::DoNotOptimize(out);
    prep += out->prepare_ms, net += out->network_ms;
  }
  st.counters["prepare_ms"] = prep / st.iterations();
  st.counters["network_ms"] = net / st.iterations();
  st.SetLabel(cam.lift == v2x::encoder::CameraLift::MultiHeight ? "multi_height 200x150" : "flat_ground 200x150");
}
BENCHMARK(BM_CameraEncode4x800x600)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
BENCHMARK_MAIN();
