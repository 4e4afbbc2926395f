#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: install, build, then
#   1. generate a held-out multi-agent simulator scenario (OPV2V layout) and list it,
#   2. render its bird's-eye view,
#   3. replay it through the runtime with the shipped detector: no fusion vs late vs anchor fusion,
#      printing AP and bytes per message (reports under $OUT),
#   4. run the live demo: v2x_node processes driven by the simulator over ZeroMQ (when built).
# Env: OUT (default /tmp/v2x_demo), FRAMES (default 20), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/v2x_demo}
FRAMES=${FRAMES:-20}
JOBS=${JOBS:-2}
# LibTorch's OpenMP threads spin-wait by default; on a busy 2-core machine that makes the detector ~25x slower
# (measured, docs/results.md). It must be set before the process starts.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
targets="v2x_sim_app v2x_replay"
grep -q v2x_node apps/v2x_node/CMakeLists.txt 2>/dev/null && targets="$targets v2x_node"
cmake --build build -j"$JOBS" --target $targets
SIM=build/apps/v2x_sim/v2x_sim
REPLAY=build/apps/v2x_replay/v2x_replay
mkdir -p "$OUT"
rm -rf "$OUT/data"

echo "== 1. simulator: urban town, seed 9001 (held out from training), $FRAMES frames"
"$SIM" generate --config config/sim/urban.yaml --seed 9001 --frames "$FRAMES" --out "$OUT/data" --compact-fleet
"$REPLAY" --dataset "$OUT/data" --format opv2v --list --summary-only

echo "== 2. bird's-eye view of frame 10 → $OUT/bev.png"
"$SIM" render --config config/sim/urban.yaml --seed 9001 --frame 10 --out "$OUT/bev.png" --compact-fleet

if "$REPLAY" --help | grep -q -- '--fusion'; then
  echo "== 3. replay with the shipped detector (ego view; 4 agents incl. 1 RSU)"
  for m in none late anchor; do
    extra=()
    [ "$m" = anchor ] && extra=(--fusion-model data/models/anchor_fusion --budget-bytes 8192)
    if "$REPLAY" --dataset "$OUT/data" --format opv2v --config config/replay/heldout.yaml --fusion "$m" \
         "${extra[@]}" --report "$OUT/report_$m.json" > "$OUT/replay_$m.log" 2>&1; then
      /usr/bin/python3 - "$OUT/report_$m.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ap = r["ap"]; b = r.get("bytes_per_message", {})
print(f'{r["method"]:>7}: AP@0.3 {ap["0.3"]:.3f}  AP@0.5 {ap["0.5"]:.3f}  AP@0.7 {ap["0.7"]:.3f}  '
      f'bytes/msg mean {b.get("mean", 0):.0f}  ({r["frames"]} frames)')
PY
    else
      echo "$m: failed (see $OUT/replay_$m.log):"; tail -3 "$OUT/replay_$m.log"
    fi
  done
fi

if [ -x build/apps/v2x_node/v2x_node ] && "$SIM" --help 2>&1 | grep -q 'run'; then
  echo "== 4. live: 4 v2x_node processes (shipped detector + anchor fusion, CurveZMQ) driven by the simulator"
  # Lock-step (--rate 0: each tick as fast as the nodes go; 4 learned nodes share 2 cores here); GT range = the
  # detector's grid, as the replay above.
  "$SIM" run --config config/sim/urban.yaml --seed 9001 --nodes 4 --frames "$FRAMES" --rate 0 \
    --node-config config/node/sim_learned.yaml --gt-range=-51.2,-25.6,-3,51.2,25.6,3 \
    --report "$OUT/live_report.json" --viz "$OUT/live_bev" || echo "live demo failed (exit $?)"
fi
echo "== outputs in $OUT"
