#!/usr/bin/env bash
# The whole test suite, after setting up .venv on a fresh machine (scripts/setup.sh).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/control -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/environment.sh
exec .venv/bin/python -m pytest -q "$@"
