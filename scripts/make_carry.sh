#!/usr/bin/env bash
# Fills .carry/include (git-ignored) with exactly the headers the trainer-only build (V2X_TRAINER_ONLY) needs on
# the GPU machine, which has LibTorch but no Debian packages and no network:
#   - Eigen (the Eigen/ module headers; unsupported/ is not used),
#   - nlohmann_json,
#   - the Boost headers that core/src/box.cpp's Boost.Geometry includes actually pull in (listed by `g++ -M`),
# and records the git commit in .carry/GIT_COMMIT for the manifest. No spdlog/fmt: the trainer does not use them.
# Usage: scripts/make_carry.sh        (then run scripts/gpu_train.sh on the GPU machine with carry [".carry"])
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARRY=$ROOT/.carry
DEST=$CARRY/include
rm -rf "$DEST"
mkdir -p "$DEST/eigen3"

cp -r /usr/include/eigen3/Eigen "$DEST/eigen3/"
cp -r /usr/include/nlohmann "$DEST/"

# Every Boost header that the only Boost user (core/src/box.cpp) includes, transitively.
deps=$(g++ -std=c++20 -M -I "$ROOT/core/include" -isystem /usr/include/eigen3 "$ROOT/core/src/box.cpp" |
       tr ' \\' '\n\n' | grep '^/usr/include/boost/' | sort -u)
n=0
for f in $deps; do
  rel=${f#/usr/include/}
  mkdir -p "$DEST/$(dirname "$rel")"
  cp "$f" "$DEST/$rel"
  n=$((n + 1))
done

git -C "$ROOT" rev-parse HEAD > "$CARRY/GIT_COMMIT" 2>/dev/null || echo unknown > "$CARRY/GIT_COMMIT"
# "-dirty" when a file that the trainer is built from differs from the commit.
if ! git -C "$ROOT" diff --quiet HEAD -- CMakeLists.txt cmake core sim detection encoder apps/v2x_train 2>/dev/null \
   || [ -n "$(git -C "$ROOT" ls-files --others --exclude-standard -- core sim detection encoder apps/v2x_train)" ]; then echo "$(cat "$CARRY/GIT_COMMIT")-dirty" > "$CARRY/GIT_COMMIT"; fi
echo "make_carry: $n Boost headers, Eigen, nlohmann -> $DEST ($(du -sh "$CARRY" | cut -f1)), commit $(cat "$CARRY/GIT_COMMIT")"
