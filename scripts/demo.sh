#!/usr/bin/env bash
# The main job: the whole ROS stack in simulation (no robot, no GPU) with the trained model in
# models/chatvla2-tiny, on three held-out math-matching scenes, after setting up .venv.
# Arguments replace the default ones and go to `chatvla2 run`, e.g.
#   bash scripts/demo.sh --params config/sim_model.yaml --trials 10   # more trials
#   bash scripts/demo.sh --steps 0                                    # placeholder skeleton until Ctrl-C
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/environment.sh
if [ "$#" -eq 0 ]; then
    set -- --params config/sim_model.yaml --trials 3 --out runs/demo
fi
exec .venv/bin/chatvla2 run "$@"
