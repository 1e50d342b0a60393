"""The test-only interface build (build_interfaces.py) writes nothing outside its build folder and
does not depend on an earlier build: a second build after the first one was deleted succeeds, and
franka_msgs from it imports in a fresh interpreter. The ROS wheels' builder paths under
/opt/python stay untouched (the old link-based fix created them and broke the second checkout)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ros_testing import REPO

sys.path.insert(0, str(REPO / "tests" / "interfaces"))
import build_interfaces  # noqa: E402

pytestmark = pytest.mark.slow
BUILDER_PREFIX = Path("/opt/python")


def imports_franka_msgs(environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from franka_msgs.action import Grasp, Homing, Move; "
                           "g = Grasp.Goal(width=0.01, force=30.0); print(g.force)"],
                          env={**os.environ, **environment}, capture_output=True, text=True, timeout=60)


def test_second_build_after_the_first_is_deleted(tmp_path):
    existed_before = BUILDER_PREFIX.exists()
    first = build_interfaces.build(tmp_path / "first")
    assert imports_franka_msgs(first).stdout.strip() == "30.0"
    shutil.rmtree(tmp_path / "first")
    second = build_interfaces.build(tmp_path / "second")
    result = imports_franka_msgs(second)
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "first") not in "".join(second.values())
    assert BUILDER_PREFIX.exists() == existed_before, "the build created /opt/python outside the repository"
    installed = [p for p in (tmp_path / "second").rglob("*") if p.is_symlink() and not p.resolve().exists()]
    assert installed == [], f"dangling links in the build: {installed}"
