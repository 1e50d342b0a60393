"""Build the test-only interface packages under tests/interfaces (franka_msgs) with colcon, cached
in build/test_interfaces (git-ignored), and print the environment a process needs to use them.

Works on a fresh machine of this project's kind (see shared/ROS2_FROM_PYPI.md): the ROS wheels'
CMake exports point at the wheel builder's Python include and NumPy include paths, so those two
paths are linked to this interpreter's before building. Usage: python build_interfaces.py
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = REPO / "build" / "test_interfaces"
BUILDER_PYTHON = Path("/opt/python/cp311-cp311")
BUILDER_NUMPY = BUILDER_PYTHON / "lib/python3.11/site-packages/numpy/_core/include"


def link_builder_paths() -> None:
    for link, target in ((BUILDER_PYTHON / "include/python3.11", sysconfig.get_paths()["include"]),
                         (BUILDER_NUMPY, numpy.get_include())):
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)


def sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in HERE.rglob("*") if p.is_file() and p.suffix != ".pyc"):
        digest.update(str(path.relative_to(HERE)).encode() + path.read_bytes())
    return digest.hexdigest()


def environment() -> dict[str, str]:
    prefix = CACHE / "install" / "franka_msgs"
    extend = lambda name, value: f"{value}{os.pathsep}{os.environ[name]}" if os.environ.get(name) else value  # noqa: E731
    return {"PYTHONPATH": extend("PYTHONPATH", str(prefix / "lib/python3.11/site-packages")),
            "LD_LIBRARY_PATH": extend("LD_LIBRARY_PATH", str(prefix / "lib")),
            "AMENT_PREFIX_PATH": extend("AMENT_PREFIX_PATH", f"{prefix}{os.pathsep}{sys.prefix}")}


def build() -> dict[str, str]:
    stamp = CACHE / "sources.sha256"
    digest = sources_digest()
    if not (stamp.is_file() and stamp.read_text() == digest):
        link_builder_paths()
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "AMENT_PREFIX_PATH": sys.prefix, "CMAKE_PREFIX_PATH": sys.prefix}
        result = subprocess.run(
            [str(bin_dir / "colcon"), "build", "--base-paths", str(HERE), "--build-base",
             str(CACHE / "build"), "--install-base", str(CACHE / "install"),
             "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF"],
            cwd=CACHE.parent, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"colcon build of tests/interfaces failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        stamp.write_text(digest)
    return environment()


if __name__ == "__main__":
    CACHE.mkdir(parents=True, exist_ok=True)
    print(json.dumps(build()))
