#!/usr/bin/env bash
# The exact command run on the lent GPU machine (the device `run` tool, from the repository root, with
# carry [".carry"] made by scripts/make_carry.sh): builds v2x_train in the trainer-only configuration against
# PyTorch's LibTorch + CUDA, trains on simulator data generated on the fly, and leaves weights + manifest + log
# (+ checkpoint for a continuation) in $OUT/<name>/ (./out/<name>/ when OUT is unset).
#
#   scripts/gpu_train.sh smoke                 # build + ~1 min of training (checks the toolchain and speeds)
#   scripts/gpu_train.sh full                  # the shipped model: see docs/training.md
#   scripts/gpu_train.sh resume DIR            # continue from DIR/checkpoint.pt (+ optimizer.pt, state.json)
#   scripts/gpu_train.sh build                 # only build v2x_train (so that two stages can then share the GPU)
#   NAME=anchor_fusion scripts/gpu_train.sh fusion   # the shipped anchor-fusion + AttFuse model (docs/training.md)
#   NAME=camera scripts/gpu_train.sh camera          # the shipped camera-only branch (docs/cameras.md)
#   NAME=camera_fused scripts/gpu_train.sh camfuse   # LiDAR+camera fusion on the frozen shipped detector + camera
#                                                    # models (docs/cameras.md, "LiDAR+camera agents"; ~4 min)
# Extra arguments after the mode are passed to v2x_train (they override the mode's).
set -euo pipefail
MODE=${1:-full}
shift || true
[ "$MODE" = camfuse ] && NAME=${NAME:-camera_fused}
NAME=${NAME:-detector}
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT/$NAME"
TORCH_PREFIX=$(python3 -c "import torch;print(torch.utils.cmake_prefix_path)")
{
  cmake -S . -B build-gpu -DV2X_TRAINER_ONLY=ON -DV2X_CARRY_INCLUDE="$PWD/.carry/include" \
    -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90
  cmake --build build-gpu -j16 --target v2x_train
} > "$OUT/$NAME/build_log.txt" 2>&1 || { tail -50 "$OUT/$NAME/build_log.txt"; exit 1; }
echo "gpu_train: built v2x_train"
[ "$MODE" = build ] && exit 0
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

COMMIT=$(cat .carry/GIT_COMMIT 2>/dev/null || echo unknown)
TRAIN=./build-gpu/apps/v2x_train/v2x_train
COMMON=(--out "$OUT/$NAME" --name "$NAME" --git-commit "$COMMIT" --device cuda --threads 16)
case "$MODE" in
  smoke)
    ARGS=(--train-seeds 1-8 --train-frames 4 --frame-stride 2 --val-seeds 9001 --val-frames 4
          --epochs 3 --batch 16 --log-every 20) ;;
  full)
    ARGS=(--train-presets urban,suburban,highway --train-seeds 1-50 --train-frames 15 --frame-stride 2
          --val-presets urban,suburban,highway --val-seeds 9001-9003 --val-frames 10
          --epochs 60 --batch 16 --lr 0.002 --time-budget-s 320 --log-every 100) ;;
  resume)
    DIR=$1
    shift
    ARGS=(--train-presets urban,suburban,highway --train-seeds 51-100 --train-frames 15 --frame-stride 2
          --val-presets urban,suburban,highway --val-seeds 9001-9003 --val-frames 10
          --epochs 120 --batch 16 --lr 0.001 --time-budget-s 330 --log-every 100 --resume "$DIR") ;;
  fusion)
    COMMON=(--out "$OUT/$NAME" --name "$NAME" --git-commit "$COMMIT" --device cuda --threads 8)
    ARGS=(--stage fusion --detector data/models/detector --presets urban,suburban,highway --train-seeds 1-36
          --frames 30 --val-presets urban,suburban,highway --val-seeds 9001-9003 --val-frames 30 --steps 8000
          --train-minutes 3 --batch-frames 8 --checkpoint-dir "$OUT/$NAME") ;;
  camera)
    COMMON=(--out "$OUT/$NAME" --device cuda --threads 15)
    ARGS=(--stage camera --lidar-model data/models/detector --lift flat_ground
          --train-presets urban,suburban,highway --train-seeds 1-120 --train-frames 8 --frame-stride 3
          --val-presets urban,suburban,highway --val-seeds 9001-9003 --val-frames 8
          --epochs 12 --batch 16 --time-budget-s 300 --log-every 200) ;;
  camfuse)
    # Data ~50 s (60 seeds x 3 presets x 8 frames, cameras rendered + clouds pillarized on 15 threads), then 150 s of
    # training, plus two validation passes: under 5 min after the build.
    COMMON=(--out "$OUT/$NAME")
    ARGS=(--stage camera --fuse-lidar --lidar-model data/models/detector --camera-model data/models/camera
          --train-presets urban,suburban,highway --train-seeds 1-60 --train-frames 8 --frame-stride 3
          --val-presets urban,suburban,highway --val-seeds 9001-9003 --val-frames 8
          --epochs 6 --batch 16 --time-budget-s 150 --threads 15 --device cuda --log-every 100) ;;
  *) echo "usage: $0 smoke|full|resume DIR|build|fusion|camera|camfuse [v2x_train args]"; exit 2 ;;
esac
"$TRAIN" "${COMMON[@]}" "${ARGS[@]}" "$@"
