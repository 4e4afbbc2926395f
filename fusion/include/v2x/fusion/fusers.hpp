#pragma once
// The six fusers behind the Fuser interface, and the factory the runtime (NodeRuntime / v2x_replay) calls.
//
//   FuserResources res;
//   res.detector = v2x::fusion::NetDetector::load(detector_cfg, "data/models/<detector>/<weights>.pt");
//   res.model_dir = "data/models/<fusion model>";   // attn / anchor weights + manifest.json
//   auto fuser = v2x::fusion::make_fuser(FusionMethod::Anchor, fusion_cfg, res);
//   FusionStats st;
//   DetectionList out = fuser->fuse(ego, peers, &st);
//
// What each method needs:
//   none   — ego.local.
//   late   — ego.local; peers' anchors (their detections + proposals) with score ≥ late.score_min.
//   early  — ego.cloud + PeerInput::points (peer LiDAR frame) + res.detector (re-run on the merged cloud).
//   max    — ego.features + peers' cells + res.detector (head re-run on the fused map).
//   attn   — as max + <model_dir>/attn_fusion.pt.
//   anchor — ego.features, ego.proposals (else ego.local), peers' cells and anchors + <model_dir>/anchor_fusion.pt.
// All but none: camera-only peers (no LiDAR bit in the message's modality) are taken out before the method runs
// and only their boxes are appended, ranked below every other detection (CameraPeerConfig, CameraPeerGate).
// All: peers go through align_peers (stale / grid / pose checks, counted in FusionStats); output boxes in the ego
// LiDAR frame after rotated NMS with cfg.output. Missing ego inputs give an empty (none/late: ego-only) result,
// never an exception.
#include <memory>
#include <optional>
#include <string>

#include "v2x/fusion/anchor_fusion.hpp"
#include "v2x/fusion/config.hpp"
#include "v2x/fusion/dense_fusion.hpp"
#include "v2x/fusion/fuser.hpp"
#include "v2x/fusion/perception.hpp"

namespace v2x::fusion {

struct FuserResources {
  std::shared_ptr<DetectorRuntime> detector;  // early, max, attn
  std::string model_dir;                      // attn, anchor
};

// Throws std::runtime_error (setup error) when a required resource is missing or the weights do not match.
std::unique_ptr<Fuser> make_fuser(FusionMethod method, const FusionConfig& cfg, const FuserResources& res = {});

// Wraps a fuser: LiDAR-backed peers go to `inner`; camera-only peers' boxes are appended to its output as
// CameraPeerConfig says (stale ones dropped and counted; peers_used counts the camera peers that added a box).
class CameraPeerGate final : public Fuser {
 public:
  CameraPeerGate(std::unique_ptr<Fuser> inner, FusionConfig cfg);
  FusionMethod method() const override { return inner_->method(); }
  DetectionList fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) override;

 private:
  std::unique_ptr<Fuser> inner_;
  FusionConfig cfg_;
};

class NoFusion final : public Fuser {
 public:
  FusionMethod method() const override { return FusionMethod::None; }
  DetectionList fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) override;
};

class LateFusion final : public Fuser {
 public:
  explicit LateFusion(FusionConfig cfg);
  FusionMethod method() const override { return FusionMethod::Late; }
  DetectionList fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) override;

 private:
  FusionConfig cfg_;
};

class EarlyFusion final : public Fuser {
 public:
  EarlyFusion(FusionConfig cfg, std::shared_ptr<DetectorRuntime> detector);
  FusionMethod method() const override { return FusionMethod::Early; }
  DetectionList fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) override;

 private:
  FusionConfig cfg_;
  std::shared_ptr<DetectorRuntime> det_;
};

class MaxFusion final : public Fuser {
 public:
  MaxFusion(FusionConfig cfg, std::shared_ptr<DetectorRuntime> detector);
  FusionMethod method() const override { return FusionMethod::Max; }
  DetectionList fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) override;

 private:
  FusionConfig cfg_;
  std::shared_ptr<DetectorRuntime> det_;
};

class AttnFusionFuser final : public Fuser {
 public:
  AttnFusionFuser(FusionConfig cfg, std::shared_ptr<DetectorRuntime> detector, AttnFusion net);
  FusionMethod method() const override { return FusionMethod::Attn; }
  DetectionList fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) override;

 private:
  FusionConfig cfg_;
  std::shared_ptr<DetectorRuntime> det_;
  AttnFusion net_;
};

class AnchorFusion final : public Fuser {
 public:
  AnchorFusion(FusionConfig cfg, AnchorFusionNet net);
  FusionMethod method() const override { return FusionMethod::Anchor; }
  DetectionList fuse(const EgoInput& ego, const std::vector<PeerInput>& peers, FusionStats* stats) override;

 private:
  FusionConfig cfg_;
  AnchorFusionNet net_;
};

}  // namespace v2x::fusion
