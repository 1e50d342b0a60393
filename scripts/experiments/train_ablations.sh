#!/usr/bin/env bash
# Train and evaluate the paper's ablations the way the shipped tiny model was trained
# (docs/training.md): the same configs, one override each, then `chatvla2 eval-table` on the
# same 30 held-out seeds. Usage: scripts/experiments/train_ablations.sh [NAME...]
# with NAME in no-reasoning-following, static-moe, dense-ffn, stage-2-only (default: all).
# 'stage-2-only' skips co-training: tiny_v2_stage2.yaml on the VLM as it leaves the image-text
# warm-up (runs/tiny_v2_stage1a/final, our stand-in for a pretrained VLM).
# Runs at low CPU priority; each stage's wall-clock cap is lifted so that every ablation
# gets the shipped model's full step counts even on a loaded machine. THREADS=1 lets two
# queues share a 2-core machine (torch threads per training process; default: the configs' 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/environment.sh
CLI=(nice -n 19 .venv/bin/chatvla2)
STAGE_OPTIONS=(--set max_minutes=240)
[[ -z ${THREADS:-} ]] || STAGE_OPTIONS+=(--set num_threads="$THREADS")

stage() {  # CONFIG OUT_DIR [--set KEY=VALUE ...]: one training stage, logged to OUT_DIR.log
    local config=$1 out=$2
    shift 2
    "${CLI[@]}" train --config "config/train/$config" --set out_dir="$out" "${STAGE_OPTIONS[@]}" "$@" \
        > "$out.log" 2>&1
}

chain() {  # NAME OVERRIDE: stage 1a, stage 1, stage 2 with one model override
    local name=$1 override=$2 run=runs/ablation_${1//-/_}
    stage tiny_v2_stage1a_reading.yaml "${run}_1a" --set "$override"
    stage tiny_v2_stage1.yaml "${run}_1" --set model.init_from="${run}_1a/final"
    stage tiny_v2_stage2.yaml "${run}_2" --set model.init_from="${run}_1/final"
    evaluate "$name" "${run}_2/final"
}

evaluate() {  # NAME MODEL_DIR
    mkdir -p runs/eval
    "${CLI[@]}" eval-table --episodes 30 --out "runs/eval/ablation_$1.md" "$1=$2" \
        > "runs/eval/ablation_$1.log" 2>&1
    echo "$1: $(tail -n 1 "runs/eval/ablation_$1.md")"
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(no-reasoning-following stage-2-only static-moe dense-ffn)
for name in "${names[@]}"; do
    case $name in
        no-reasoning-following) chain "$name" model.reasoning_following=false ;;
        static-moe) chain "$name" model.moe_kind=static ;;
        dense-ffn) chain "$name" model.moe_kind=dense ;;
        stage-2-only)
            stage tiny_v2_stage2.yaml runs/ablation_stage2_only --set model.init_from=runs/tiny_v2_stage1a/final
            evaluate "$name" runs/ablation_stage2_only/final ;;
        *) echo "unknown ablation '$name'" >&2; exit 2 ;;
    esac
done
