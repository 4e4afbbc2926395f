#!/usr/bin/env bash
# Fuzzes the wire-v1 decoder (comm/fuzz/fuzz_decoder.cpp) with libFuzzer + ASan + UBSan for a bounded time.
# Built with direct clang++ commands into build-fuzz/ (no CMake configure, so it is fast and independent of the
# other build dirs); the seed corpus is real encoded messages written by comm/fuzz/make_corpus.cpp.
# (Alternative inside CMake: CXX=clang++ cmake -S . -B build-fuzz-cmake -DV2X_FUZZ=ON -DV2X_WITH_TORCH=OFF ...)
# Env: FUZZ_SECONDS (default 45; the whole script stays under 60 s of fuzzing), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_FUZZ=${FUZZ_SECONDS:-45}
OUT=build-fuzz
mkdir -p "$OUT/corpus" "$OUT/artifacts"
CXX=${FUZZ_CXX:-clang++}
INC=(-Icore/include -Icomm/include -I/usr/include/eigen3)
SRC=(comm/src/codec.cpp comm/src/crc32c.cpp comm/src/quantize.cpp core/src/grid.cpp core/src/pose.cpp)
FLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined)

echo "fuzz: building (clang++ + libFuzzer + ASan + UBSan)"
"$CXX" "${FLAGS[@]}" -fsanitize=fuzzer "${INC[@]}" comm/fuzz/fuzz_decoder.cpp "${SRC[@]}" -llz4 -o "$OUT/fuzz_decoder"
"$CXX" "${FLAGS[@]}" "${INC[@]}" comm/fuzz/make_corpus.cpp "${SRC[@]}" -llz4 -o "$OUT/make_corpus"

rm -f "$OUT"/corpus/seed_*.bin
"$OUT/make_corpus" "$OUT/corpus"
echo "fuzz: running ${SECONDS_TO_FUZZ}s"
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$OUT/fuzz_decoder" "$OUT/corpus" -max_total_time="$SECONDS_TO_FUZZ" -max_len=65536 -rss_limit_mb=2048 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/" 2>&1 | tail -n 25
echo "fuzz: no crash in ${SECONDS_TO_FUZZ}s"
