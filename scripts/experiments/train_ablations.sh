#!/usr/bin/env bash
# Train and evaluate the paper's ablations the way the shipped tiny model's VLM is trained
# (docs/training.md): stages 1a, 1b, 1c and 2a of the recipe on models/qwen2vl-tiny-base, one
# override each, then `chatvla2 eval-table` on the same 30 held-out and 30 card-swap seeds. The head
# recipe here is stage 2a's (no locator), not the shipped 2b's.
# Usage: scripts/experiments/train_ablations.sh [NAME...] with NAME in
#   no-reasoning-following  a fresh head that ignores the reasoning, trained in stage 2 on the
#                           shipped model's own stage-1c VLM (model.fresh_head, reasoning_following=false)
#   no-upcycling            MoE experts from random initialisation, everything else from the base
#   static-moe              one expert per token chosen by modality, no router
#   dense-ffn               one dense FFN per layer (no MoE)
#   stage-2-only            no co-training: stage 2 on the upcycled base as it is
# (default: all). Runs at low CPU priority; each stage's wall-clock cap is lifted so that every
# ablation gets the shipped model's full step counts even on a loaded machine. THREADS=N sets
# torch threads per training process (the configs use 1, so two queues share a 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/environment.sh
CLI=(nice -n 19 .venv/bin/chatvla2)
STAGE_OPTIONS=(--set max_minutes=240)
[[ -z ${THREADS:-} ]] || STAGE_OPTIONS+=(--set num_threads="$THREADS")

stage() {  # CONFIG OUT_DIR [--set KEY=VALUE ...]: one training stage, logged to OUT_DIR.log
    local config=$1 out=$2
    shift 2
    "${CLI[@]}" train --config "config/train/$config" --set out_dir="$out" "${STAGE_OPTIONS[@]}" --resume auto "$@" \
        > "$out.log" 2>&1
}

chain() {  # NAME OVERRIDE: stages 1, 1b, 1c and 2 with one model override
    local name=$1 override=$2 run=runs/ablation_${1//-/_}
    stage tiny_stage1a_cotrain.yaml "${run}_1" --set "$override"
    stage tiny_stage1b_counterfactual_rows.yaml "${run}_1b" --set model.init_from="${run}_1/final"
    stage tiny_stage1c_balanced_places.yaml "${run}_1c" --set model.init_from="${run}_1b/final"
    stage tiny_stage2a_head.yaml "${run}_2" --set model.init_from="${run}_1c/final"
    evaluate "$name" "${run}_2/final"
}

evaluate() {  # NAME MODEL_DIR
    mkdir -p runs/eval
    "${CLI[@]}" eval-table --episodes 30 --out "runs/eval/ablation_$1.md" "$1=$2" \
        > "runs/eval/ablation_$1.log" 2>&1
    echo "$1: $(tail -n 1 "runs/eval/ablation_$1.md")"
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(no-reasoning-following no-upcycling static-moe dense-ffn stage-2-only)
for name in "${names[@]}"; do
    case $name in
        no-reasoning-following)
            stage tiny_stage2a_head.yaml runs/ablation_no_reasoning_following --set model.fresh_head=true \
                --set model.reasoning_following=false
            evaluate "$name" runs/ablation_no_reasoning_following/final ;;
        no-upcycling) chain "$name" model.upcycle_experts=false ;;
        static-moe) chain "$name" model.moe_kind=static ;;
        dense-ffn) chain "$name" model.moe_kind=dense ;;
        stage-2-only)
            stage tiny_stage2a_head.yaml runs/ablation_stage2_only --set model.init_from=null \
                --set model.dense_backbone=models/qwen2vl-tiny-base
            evaluate "$name" runs/ablation_stage2_only/final ;;
        *) echo "unknown ablation '$name'" >&2; exit 2 ;;
    esac
done
