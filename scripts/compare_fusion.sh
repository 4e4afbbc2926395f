#!/usr/bin/env bash
# The fusion comparison matrix: every method through one v2x_replay command on the held-out simulator split (and,
# with --real, on the real DAIR-V2X-C pair), then the table + plot (AP@0.7 vs bytes per message) into
# docs/results.md, section "## Fusion comparison (v2x_replay)" (only that section is rewritten).
#
# With --cameras, the heterogeneous-fleet matrix instead (issue 9): a held-out split whose ego has LiDAR + 4 cameras,
# whose second car has cameras only (no LiDAR) and whose other agents have LiDAR (v2x_sim --sensors), evaluated with
# the camera model (ego LiDAR / camera / LiDAR+camera without fusion; late and anchor fusion with and without the
# camera-only car), into section "## Heterogeneous fleets (v2x_replay --camera-model)".
#
# Usage: scripts/compare_fusion.sh [--cameras] [--fleet compact|preset] [--build DIR] [--data DIR] [--frames N] [--out DIR]
#                                  [--real] [--no-docs]
#   --fleet F     compact (default): the split is generated with `v2x_sim generate --compact-fleet`, so every ego
#                 frame has its peers within the 70 m range (the issue's "4 connected agents"; data
#                 /tmp/v2x_heldout_compact); preset: the presets' spread fleets, where an ego hears 0.8 peers per
#                 frame on average (data /tmp/v2x_heldout, section "Fusion comparison, spread fleets")
#   --build DIR   build folder holding apps/v2x_replay/v2x_replay and v2x_replay_compare (default: build)
#   --data DIR    held-out split (OPV2V layout); generated with v2x_sim when absent (default: /tmp/v2x_heldout)
#   --frames N    frames per scenario written by v2x_sim when generating (default: 40)
#   --max-frames N  evaluate at most N frames per run (default: all)
#   --out DIR     reports, dumps and logs (default: /tmp/v2x_compare)
#   --real        also run the matrix on ../shared/realdata/dair-v2x-c-pair (vehicle ego + RSU)
#   --no-docs     do not touch docs/results.md
#   --cameras     the heterogeneous-fleet matrix (default data /tmp/v2x_hetero, out /tmp/v2x_compare_cameras)
# Held-out split: towns urban / suburban / highway with world seeds 9001-9003 (training uses seeds < 9000; see
# docs/training.md). Models: data/models/detector, and data/models/anchor_fusion (anchor_fusion.pt, attn_fusion.pt)
# for the learned fusers; a method whose weights are missing is listed as "not run". LibTorch runs with 2 threads
# and OMP_WAIT_POLICY=PASSIVE: on a busy 2-core machine OpenMP's spinning barrier made the detector ~20x slower.
set -euo pipefail
ARGS="$*"
cd "$(dirname "$0")/.."

BUILD=build; DATA=; FRAMES=40; OUT=; REAL=0; DOCS=1; MAXF=0; CAMERAS=0; FLEET=compact
DETECTOR=${V2X_DETECTOR:-data/models/detector}
FUSION_MODEL=${V2X_FUSION_MODEL:-data/models/anchor_fusion}  # anchor_fusion.pt (+ attn_fusion.pt) + manifest.json
ATTN_MODEL=$FUSION_MODEL/attn_fusion.pt
ANCHOR_MODEL=$FUSION_MODEL/anchor_fusion.pt
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --frames) FRAMES=$2; shift 2 ;;
    --max-frames) MAXF=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --real) REAL=1; shift ;;
    --no-docs) DOCS=0; shift ;;
    --cameras) CAMERAS=1; shift ;;
    --fleet) FLEET=$2; shift 2 ;;
    -h|--help) sed -n 2,23p "$0"; exit 0 ;;
    *) echo "compare_fusion.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
CAMERA_MODEL=${V2X_CAMERA_MODEL:-data/models/camera}
SIM_ARGS=()
EXTRA=()
if [ "$CAMERAS" = 1 ]; then
  DATA=${DATA:-/tmp/v2x_hetero}; OUT=${OUT:-/tmp/v2x_compare_cameras}
  [ "$REAL" = 1 ] && { echo "compare_fusion.sh: --real with --cameras: the DAIR reader loads no images" >&2; exit 2; }
  [ -f "$CAMERA_MODEL/camera_manifest.json" ] || { echo "compare_fusion.sh: no camera model in $CAMERA_MODEL" >&2; exit 2; }
  # ego LiDAR + cameras, car 2 cameras only, car 3 and the RSU LiDAR; images at the camera branch's input size.
  SIM_ARGS=(--sensors lidar+camera,camera,lidar,lidar --camera-size 200x150)
  EXTRA=(--camera-model "$CAMERA_MODEL")
elif [ "$FLEET" = compact ]; then
  DATA=${DATA:-/tmp/v2x_heldout_compact}; OUT=${OUT:-/tmp/v2x_compare}
  SIM_ARGS=(--compact-fleet)
elif [ "$FLEET" = preset ]; then
  DATA=${DATA:-/tmp/v2x_heldout}; OUT=${OUT:-/tmp/v2x_compare_spread}
else
  echo "compare_fusion.sh: --fleet compact|preset (got '$FLEET')" >&2; exit 2
fi
REPLAY=$BUILD/apps/v2x_replay/v2x_replay
COMPARE=$BUILD/apps/v2x_replay/v2x_replay_compare
SIM=$BUILD/apps/v2x_sim/v2x_sim
for b in "$REPLAY" "$COMPARE"; do
  [ -x "$b" ] || { echo "compare_fusion.sh: $b not built (cmake --build $BUILD --target v2x_replay v2x_replay_compare)" >&2; exit 2; }
done
[ -f "$DETECTOR/manifest.json" ] || { echo "compare_fusion.sh: no detector model in $DETECTOR" >&2; exit 2; }
mkdir -p "$OUT"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

if [ ! -d "$DATA" ] || [ -z "$(ls -A "$DATA" 2>/dev/null)" ]; then
  [ -x "$SIM" ] || { echo "compare_fusion.sh: $DATA absent and $SIM not built" >&2; exit 2; }
  echo "generating the held-out split in $DATA ($FRAMES frames per scenario)"
  i=0
  for town in urban suburban highway; do
    i=$((i + 1))
    "$SIM" generate --preset "$town" --seed $((9000 + i)) --frames "$FRAMES" --out "$DATA" \
      --threads 2 --no-progress "${SIM_ARGS[@]}"
  done
fi

# label | extra v2x_replay arguments | fusion weights file the method needs ("" = none beyond the detector)
MATRIX=(
  "none|--fusion none|"
  "late|--fusion late --budget-bytes 16384|"
  "early|--fusion early --budget-bytes 16384|"
  "max 16K|--fusion max --selector top_k --bits 8 --budget-bytes 16384|"
  "attn 16K|--fusion attn --selector top_k --bits 8 --budget-bytes 16384|$ATTN_MODEL"
  "anchor 4K|--fusion anchor --selector conformal_temporal --bits 8 --budget-bytes 4096|$ANCHOR_MODEL"
  "anchor 8K|--fusion anchor --selector conformal_temporal --bits 8 --budget-bytes 8192|$ANCHOR_MODEL"
  "anchor 16K|--fusion anchor --selector conformal_temporal --bits 8 --budget-bytes 16384|$ANCHOR_MODEL"
  "anchor 8K INT4|--fusion anchor --selector conformal_temporal --bits 4 --budget-bytes 8192|$ANCHOR_MODEL"
  "late noisy|--fusion late --budget-bytes 16384 --pose-noise 0.2,0.2 --latency-ms 100|"
  "anchor 8K noisy|--fusion anchor --selector conformal_temporal --bits 8 --budget-bytes 8192 --pose-noise 0.2,0.2 --latency-ms 100|$ANCHOR_MODEL"
)
ANCHOR8="--fusion anchor --selector conformal_temporal --bits 8 --budget-bytes 8192"
# Agent order in the split: ego, camera-only car, LiDAR car, LiDAR RSU (`none` leaves an agent out).
[ "$CAMERAS" = 1 ] && MATRIX=(
  "ego LiDAR|--fusion none --sensors lidar|"
  "ego camera only|--fusion none --sensors camera|"
  "ego LiDAR+camera|--fusion none --sensors lidar+camera|"
  "late: LiDAR fleet|--fusion late --budget-bytes 16384 --sensors lidar,none,lidar,lidar|"
  "late: + camera car|--fusion late --budget-bytes 16384 --sensors lidar,camera,lidar,lidar|"
  "anchor 8K: ego alone|$ANCHOR8 --sensors lidar,none,none,none|$ANCHOR_MODEL"
  "anchor 8K: ego + camera car|$ANCHOR8 --sensors lidar,camera,none,none|$ANCHOR_MODEL"
  "anchor 8K: LiDAR fleet|$ANCHOR8 --sensors lidar,none,lidar,lidar|$ANCHOR_MODEL"
  "anchor 8K: + camera car|$ANCHOR8 --sensors lidar,camera,lidar,lidar|$ANCHOR_MODEL"
  "anchor 8K: LiDAR+camera ego + fleet|$ANCHOR8 --sensors lidar+camera,camera,lidar,lidar|$ANCHOR_MODEL"
)

# run_matrix NAME DATASET FORMAT → fills RUNS_<NAME> (LABEL=report pairs) and SKIPPED (lines)
SKIPPED=""
run_matrix() {
  local name=$1 dataset=$2 format=$3
  local -n runs=$4
  runs=()
  for row in "${MATRIX[@]}"; do
    IFS='|' read -r label args model <<<"$row"
    if [ -n "$model" ] && [ ! -f "$model" ]; then
      SKIPPED+="- $name / $label: not run (no \`$model\`)"$'\n'
      continue
    fi
    local tag; tag=$(echo "$name-$label" | tr ' ' '_')
    local cmd=("$REPLAY" --dataset "$dataset" --format "$format" --config config/replay/heldout.yaml --model "$DETECTOR" --report "$OUT/$tag.json"
               --dump "$OUT/$tag.jsonl" --no-progress "${EXTRA[@]}")
    [ -n "$model" ] && cmd+=(--fusion-model "$(dirname "$model")")
    [ "$MAXF" -gt 0 ] && cmd+=(--frames "$MAXF")
    # shellcheck disable=SC2206
    cmd+=($args)
    echo "+ ${cmd[*]}"
    if "${cmd[@]}" >"$OUT/$tag.log" 2>&1; then
      tail -n 1 "$OUT/$tag.log"
      runs+=("$label=$OUT/$tag.json")
    else
      SKIPPED+="- $name / $label: failed (exit $?; log \`$OUT/$tag.log\`: $(tail -n 1 "$OUT/$tag.log"))"$'\n'
    fi
  done
}

declare -a SIM_RUNS=() REAL_RUNS=()
run_matrix sim "$DATA" opv2v SIM_RUNS
PLOT=(--plot docs/fusion_ap_vs_bytes.png)
[ "$CAMERAS" = 1 ] || [ "$FLEET" = preset ] && PLOT=()
[ ${#SIM_RUNS[@]} -gt 0 ] && "$COMPARE" --table "$OUT/sim_table.md" "${PLOT[@]}" "${SIM_RUNS[@]}"
if [ "$REAL" = 1 ]; then
  run_matrix dair ../shared/realdata/dair-v2x-c-pair dair REAL_RUNS
  [ ${#REAL_RUNS[@]} -gt 0 ] && "$COMPARE" --table "$OUT/real_table.md" "${REAL_RUNS[@]}"
fi

SECTION="$OUT/section.md"
HEADING="Fusion comparison (v2x_replay)"
[ "$CAMERAS" = 0 ] && [ "$FLEET" = preset ] && HEADING="Fusion comparison, spread fleets (v2x_replay)"
[ "$CAMERAS" = 1 ] && HEADING="Heterogeneous fleets (v2x_replay --camera-model)"
{
  echo "## $HEADING"
  echo
  echo "Written by \`scripts/compare_fusion.sh $ARGS\` on $(date -u +%Y-%m-%d) (git $(git rev-parse --short HEAD)),"
  echo "2-core Debian 12 dev machine, 2 LibTorch threads. Every row is one command:"
  if [ "$CAMERAS" = 1 ]; then
    echo "\`v2x_replay --dataset DIR --format opv2v --config config/replay/heldout.yaml --model $DETECTOR --camera-model $CAMERA_MODEL --sensors LIST --fusion METHOD [...] --report R.json\`"
    echo "(exact commands and logs in \`$OUT/*.log\`). Held-out split: towns urban/suburban/highway, world seeds 9001–9003,"
    echo "$FRAMES frames each, written by \`v2x_sim generate ... ${SIM_ARGS[*]}\`: the ego has LiDAR + 4 cameras, the second"
    echo "car 4 cameras and no LiDAR, the third car and the RSU LiDAR (their LiDAR data are identical to the fusion"
    echo "comparison's split: cameras draw no random numbers). \`--sensors\` picks what each agent uses, in that order"
    echo "(\`none\`: the agent takes no part). Agents farther than 70 m from the ego are out of range (OPV2V's rule), so"
    echo "the camera-only car joins only some frames. AP as in the fusion comparison (GT: every vehicle in the detector's"
    echo "range, occluded ones too); camera images 200×150."
    echo
    [ -f "$OUT/sim_table.md" ] && cat "$OUT/sim_table.md"
    echo
  else
    echo "\`v2x_replay --dataset DIR --format opv2v --config config/replay/heldout.yaml --model $DETECTOR --fusion METHOD [--selector S --bits B --budget-bytes N] [--pose-noise 0.2,0.2 --latency-ms 100] --report R.json\`"
    echo "(the exact commands and logs are in \`$OUT/*.log\` of the run; the held-out split is towns urban/suburban/highway,"
    echo "world seeds 9001–9003, $FRAMES frames each, generated by \`v2x_sim generate ${SIM_ARGS[*]}\`). \"noisy\" = σ 0.2 m / 0.2° on every"
    echo "agent's believed pose and 100 ms message age (peers' previous frame). AP: OpenCOOD protocol, BEV rotated IoU, GT in"
    echo "the detector's range x ±51.2 m, y ±25.6 m, z [-3, 3] m (config/replay/heldout.yaml), all GT (occluded included)."
    echo
    echo "### Held-out simulator split ($FLEET fleets)"
    echo
    [ -f "$OUT/sim_table.md" ] && cat "$OUT/sim_table.md"
    echo
    [ ${#PLOT[@]} -gt 0 ] && echo "![AP@0.7 against bytes per message](fusion_ap_vs_bytes.png)" && echo
    if [ "$REAL" = 1 ]; then
      echo "### Real DAIR-V2X-C pair (../shared/realdata, vehicle ego + RSU, one frame)"
      echo
      [ -f "$OUT/real_table.md" ] && cat "$OUT/real_table.md"
      echo
    fi
  fi
  if [ -n "$SKIPPED" ]; then
    echo "Not run:"
    echo
    printf "%s" "$SKIPPED"
    echo
  fi
} >"$SECTION"

if [ "$DOCS" = 1 ]; then
  # Replace (or append) this section only: from its heading to the next "## " heading.
  awk -v sec="$SECTION" -v heading="## $HEADING" '
    BEGIN { while ((getline l < sec) > 0) body = body l "\n" }
    $0 == heading { printf "%s", body; skip = 1; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) printf "\n%s", body }
  ' docs/results.md >docs/results.md.tmp && mv docs/results.md.tmp docs/results.md
  echo "docs/results.md: section \"$HEADING\" updated"
fi
cat "$SECTION"
