#!/usr/bin/env bash
# The main job: the whole stack in simulation (no robot, no GPU), after setting up .venv.
# Extra arguments go to `chatvla2 run`, e.g. `bash scripts/demo.sh --steps 0` runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/environment.sh
exec .venv/bin/chatvla2 run "$@"
