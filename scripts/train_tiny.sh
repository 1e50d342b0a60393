#!/usr/bin/env bash
# The shipped tiny recipe, start to end (docs/training.md): the data, stages 0a-0c (the dense base),
# 1a-1c (co-training the MoE VLM) and 2a-2b (the head on the model's own reasoning), then the
# eval table against the habit baseline. About 4 hours on one core of this 2-core machine (2.5
# from the shipped base). Every stage resumes where it stopped (--resume auto), so running this
# script again continues it.
# FROM_BASE=1 starts at stage 1a from the shipped models/qwen2vl-tiny-base instead of stage 0a.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/environment.sh
CLI=.venv/bin/chatvla2

data() {  # OUT ARGS...: one gen-data run, skipped when its folder is complete
    local out=runs/data/$1
    shift
    [[ -f $out/.complete ]] && return
    "$CLI" gen-data --out "$out" --workers 1 "$@"
    touch "$out/.complete"
}
data math_train --task math --episodes 300 --seed 0
data math_train_extra --task math --episodes 900 --seed 300
data math_third --task math --answer-place third --episodes 300 --seed 5000
data math_rightmost --task math --lift rightmost-card --episodes 300 --seed 10000
data math_anycard --task math --lift any-card --episodes 300 --seed 20000
data qa_train --task qa --episodes 1600 --seed 0

base=models/qwen2vl-tiny-base
if [[ -z ${FROM_BASE:-} ]]; then
    for stage in tiny_stage0a_reading tiny_stage0b_place_lookup tiny_stage0c_reasoning_text; do
        "$CLI" pretrain --config "config/train/$stage.yaml" --resume auto
    done
    base=runs/tiny_stage0c/final
fi
# The configs' max_minutes cap a stage on a loaded machine; here each stage runs to its last step,
# because the next one starts from its final/.
"$CLI" train --config config/train/tiny_stage1a_cotrain.yaml --set model.dense_backbone="$base" \
    --set max_minutes=null --resume auto
for stage in tiny_stage1b_counterfactual_rows tiny_stage1c_balanced_places tiny_stage2a_head tiny_stage2b_locator_head; do
    "$CLI" train --config "config/train/$stage.yaml" --set max_minutes=null --resume auto
done
"$CLI" eval-table --episodes 30 --out runs/eval/tiny_recipe.md "habit baseline=habit" \
    "shipped chatvla2-tiny=models/chatvla2-tiny" "this run=runs/tiny_stage2b/final"
