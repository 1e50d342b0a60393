#!/usr/bin/env bash
# One GPU check of the paper preset (random weights, bf16), at most 8 minutes on one H100/H200:
#   1. inference: prefill ms, reasoning tokens/s, the head's 10-step DDIM chunk (eager, and as a
#      CUDA graph replay), then `chatvla2 bench`'s naive baseline vs our sync/async runtime
#      (chunks/s, p50/p99, peak memory) in the same run;
#   2. one FSDP2 training step on the one GPU (train/fsdp.py, world size 1) and its peak memory
#      against benchmarks/fsdp_memory.py's arithmetic.
# Tables go to $OUT/gpu_check.md (and one file per phase); nothing in the repository is written:
# append the table to benchmarks/RESULTS.md by hand with the machine and date it prints.
#
#   bash benchmarks/gpu_check.sh                        # on the GPU machine
#   GPU_CHECK_DRY_RUN=1 bash benchmarks/gpu_check.sh    # tiny preset on the CPU (tests/train/test_fsdp.py)
# Options (environment):
#   OUT=dir                    where the tables go (default runs/gpu_check)
#   GPU_CHECK_COMPILE_HEAD=1   also torch.compile the head (runtime and model-step rows; ~1-3 min more)
#   GPU_CHECK_CUDA_GRAPH=0     skip the CUDA-graph replay of the head's chunk (default on with CUDA):
#                              the fallback when torch.compile does not reach 30 chunks/s
#   GPU_CHECK_TRAIN_BATCH=8    samples in the training step
# Each phase has its own time limit, so a slow phase cannot starve the other or the 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -f scripts/environment.sh ]]; then source scripts/environment.sh; fi
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"

if [[ "${GPU_CHECK_DRY_RUN:-0}" == "1" ]]; then
  common=(--preset tiny --device cpu --repeats 2)
  inference=(--reasoning-tokens 8 --frames 6 --naive-frames 2 --bf16)
  train=(--batch 2 --steps 2)
  export OMP_NUM_THREADS=1
  limits=(100 100)
else
  common=(--preset paper --device cuda --repeats 10)
  inference=(--reasoning-tokens 32 --frames 150 --naive-frames 5 --bf16)
  train=(--batch "${GPU_CHECK_TRAIN_BATCH:-8}" --steps 3)
  if [[ "${GPU_CHECK_CUDA_GRAPH:-1}" == "1" ]]; then inference+=(--cuda-graph); fi
  limits=(330 130)
fi
if [[ "${GPU_CHECK_COMPILE_HEAD:-0}" == "1" ]]; then inference+=(--compile-head); fi

status=0
timeout "${limits[0]}" "$PYTHON" benchmarks/gpu_check.py inference "${common[@]}" "${inference[@]}" \
  --out "$OUT/inference.md" || { status=$?; echo "inference phase failed or timed out (exit $status)" > "$OUT/inference.md"; }
timeout "${limits[1]}" "$PYTHON" benchmarks/gpu_check.py train-step "${common[@]}" "${train[@]}" \
  --out "$OUT/train_step.md" || { status=$?; echo "train-step phase failed or timed out (exit $status)" > "$OUT/train_step.md"; }

{
  echo "## gpu_check ($(hostname), $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  "$PYTHON" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU')"
  echo
  cat "$OUT/inference.md"
  echo
  cat "$OUT/train_step.md"
} > "$OUT/gpu_check.md"
cat "$OUT/gpu_check.md"
exit $status
