#!/usr/bin/env bash
# Soak benchmark for live nodes (issue 8; NOT run in CI): N v2x_node processes at RATE Hz for MINUTES minutes
# against `v2x_sim run` (tiny world, geometric perception + late fusion, CurveZMQ, channel model on).
# Reports RSS growth per node, missed/late ticks, end-to-end latency percentiles and bytes/s per node.
#   bench/soak/run_soak.sh [BUILD_DIR] [MINUTES] [NODES] [RATE]
set -euo pipefail
BUILD=${1:-build-live}
MINUTES=${2:-10}
NODES=${3:-8}
RATE=${4:-10}
FRAMES=$(python3 -c "print(int(${MINUTES} * 60 * ${RATE}))")
OUT=${SOAK_OUT:-/tmp/v2x_soak_$$}
mkdir -p "$OUT"
echo "soak: $NODES nodes, $RATE Hz, $MINUTES min ($FRAMES ticks); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/apps/v2x_sim/v2x_sim" run --preset tiny --nodes "$NODES" --frames "$FRAMES" --rate "$RATE" \
  --report "$OUT/report.json" --work "$OUT/work" --driver tcp://127.0.0.1:5590 --base-port 5700 \
  --mtu 1400 --latency-ms 20 --jitter-ms 5 --loss 0.01 --no-progress --log-level warn
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
live = r["live"]
print(f"ticks {r['frames']}  wall {live['wall_s']:.1f} s  late ticks {live['late_ticks']}  missing results {live['missing_results']}")
e = live["e2e_ms"]
print(f"end-to-end ms: median {e['median']:.1f}  p95 {e['p95']:.1f}  p99 {e['p99']:.1f}  max {e['max']:.1f}")
print(f"bytes/message mean {r['bytes_per_message']['mean']:.0f}  dropped {r['dropped']}")
print("node  rss_first_MiB  rss_last_MiB  rss_max_MiB  bytes_sent/s  missed_ticks  timeouts  exit")
for nid, n in r["nodes"].items():
    t = n["totals"]
    print(f"{nid:>5} {n['rss_mib']['first']:14.1f} {n['rss_mib']['last']:13.1f} {n['rss_mib']['max']:12.1f} "
          f"{n['bytes_sent_per_s']:13.0f} {t.get('missed_ticks', -1):13d} {n['timeouts']:9d} {n['exit_code']:5d}")
PY
echo "report: $OUT/report.json"
