#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install dependencies, configure, build, test.
#   1. Release build with LibTorch: every unit + integration test (ctest).
#   2. ASan+UBSan build of the modules that do not load LibTorch (V2X_WITH_TORCH=OFF): their tests again.
#   3. The wire-decoder fuzz target for a bounded time (when it exists).
# Env: JOBS (default 2), V2X_SKIP_ASAN=1 to skip step 2 locally.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}  # LibTorch spin-waits otherwise (see docs/results.md)
start=$(date +%s)

bash scripts/setup.sh

echo "== [1/3] Release build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"
(cd build && ctest --output-on-failure -j"$JOBS" --timeout 600)

if [ "${V2X_SKIP_ASAN:-0}" != "1" ]; then
  echo "== [2/3] ASan+UBSan build (modules without LibTorch) + tests"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DV2X_SANITIZE=ON -DV2X_WITH_TORCH=OFF \
        -DV2X_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$JOBS"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$JOBS" --timeout 900 -LE slow \
       -E 'AgreesWithBruteForceSamplingOn1000RandomPairs')  # 490M point tests: minutes under ASan; runs in step 1

fi

if [ -f scripts/fuzz.sh ]; then
  echo "== [3/3] fuzzing the wire decoder"
  bash scripts/fuzz.sh
fi
echo "== test suite finished in $(( $(date +%s) - start )) s"
