"""Build the test-only interface packages under tests/interfaces (franka_msgs) with colcon, cached
in build/test_interfaces (git-ignored), and print the environment a process needs to use them.

Works on a fresh machine of this project's kind (see shared/ROS2_FROM_PYPI.md): the ROS wheels'
CMake exports point at the wheel builder's Python include and NumPy include paths
(/opt/python/cp311-cp311/...); wheel_include_dirs.cmake, injected through CMAKE_PROJECT_INCLUDE,
rewrites them to this interpreter's. Nothing is written outside the repository: the build, its
install and colcon's logs all live under build/test_interfaces. Usage: python build_interfaces.py [CACHE_DIR]
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
INCLUDE_DIRS_FIX = HERE / "wheel_include_dirs.cmake"


def sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in HERE.rglob("*") if p.is_file() and p.suffix != ".pyc"):
        digest.update(str(path.relative_to(HERE)).encode() + path.read_bytes())
    return digest.hexdigest()


def environment(cache: Path = CACHE) -> dict[str, str]:
    prefix = cache / "install" / "franka_msgs"
    extend = lambda name, value: f"{value}{os.pathsep}{os.environ[name]}" if os.environ.get(name) else value  # noqa: E731
    return {"PYTHONPATH": extend("PYTHONPATH", str(prefix / "lib/python3.11/site-packages")),
            "LD_LIBRARY_PATH": extend("LD_LIBRARY_PATH", str(prefix / "lib")),
            "AMENT_PREFIX_PATH": extend("AMENT_PREFIX_PATH", f"{prefix}{os.pathsep}{sys.prefix}")}


def build(cache: Path = CACHE) -> dict[str, str]:
    """Build (when the sources changed) into `cache` and return the environment that uses it."""
    cache.mkdir(parents=True, exist_ok=True)
    stamp = cache / "sources.sha256"
    digest = sources_digest()
    if not (stamp.is_file() and stamp.read_text() == digest):
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "AMENT_PREFIX_PATH": sys.prefix, "CMAKE_PREFIX_PATH": sys.prefix}
        result = subprocess.run(
            [str(bin_dir / "colcon"), "build", "--base-paths", str(HERE), "--build-base",
             str(cache / "build"), "--install-base", str(cache / "install"),
             "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}", "-DBUILD_TESTING=OFF",
             f"-DCMAKE_PROJECT_INCLUDE={INCLUDE_DIRS_FIX}",
             f"-DCHATVLA2_PYTHON_INCLUDE_DIR={sysconfig.get_paths()['include']}",
             f"-DCHATVLA2_NUMPY_INCLUDE_DIR={numpy.get_include()}"],
            cwd=cache, env={**env, "COLCON_LOG_PATH": str(cache / "log")}, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"colcon build of tests/interfaces failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        stamp.write_text(digest)
    return environment(cache)


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else CACHE)))
