#!/usr/bin/env bash
# Creates the project's virtual environment (.venv) and installs everything pinned in
# requirements.txt plus this package in editable mode. Idempotent: a second run with unchanged
# requirements returns at once. Works as root on a brand-new machine of this project's kind.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${CHATVLA2_VENV:-.venv}"
python="${PYTHON:-python3}"

# The ROS 2 wheels on PyPI are built for CPython 3.11 only.
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: $python is $("$python" --version 2>&1); ROS 2 Kilted wheels need CPython 3.11." >&2
    echo "setup: set PYTHON=/path/to/python3.11 and run again." >&2
    exit 1
fi

stamp="$venv/.chatvla2-setup"
wanted="$(cat requirements.txt setup.py setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    exit 0
fi

echo "setup: creating $venv and installing pinned requirements (first run takes about a minute)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "$wanted" > "$stamp"
echo "setup: done ($venv)"
