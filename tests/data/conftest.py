"""Record bags from the running simulated stack (real processes over real DDS) for the bag tests."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURE_BAG = Path(__file__).parent / "sim_stack_bag"


def small_stack_params(tmp: Path) -> Path:
    """config/sim.yaml with small camera frames, so bags stay small and recording stays cheap."""
    params = yaml.safe_load((REPO / "config" / "sim.yaml").read_text())
    params["camera"]["ros__parameters"].update(width=96, height=72)
    path = tmp / "sim_small.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def stack_env() -> dict[str, str]:
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(100, 200)),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1", MUJOCO_GL="egl")
    return env


def start_stack(params: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "chatvla2.cli", "run", "--params", str(params), "--steps", "0"],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def start_recorder(bag: Path, env: dict[str, str], log: Path, flush_period_s: float = 0.5) -> subprocess.Popen:
    code = "from chatvla2.ros.recorder_node import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, "--ros-args", "-p", f"output:={bag}",
                             "-p", f"flush_period_s:={flush_period_s}"],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def record_stack_bag(tmp: Path, seconds: float, bag: Path | None = None) -> Path:
    """Run the simulated stack and the recorder as separate processes; stop both cleanly."""
    env, bag = stack_env(), bag or tmp / "bag"
    stack = start_stack(small_stack_params(tmp), env, tmp / "stack.log")
    recorder = start_recorder(bag, env, tmp / "recorder.log")
    try:
        time.sleep(seconds)
    finally:
        stop(recorder)
        stop(stack)
    return bag


@pytest.fixture(scope="session")
def stack_bag(tmp_path_factory) -> Path:
    """A bag recorded in this test session from the running simulated stack."""
    return record_stack_bag(tmp_path_factory.mktemp("stack_bag"), seconds=6.0)


if __name__ == "__main__":
    # Re-create the committed fixture: python tests/data/conftest.py
    import shutil
    import tempfile

    shutil.rmtree(FIXTURE_BAG, ignore_errors=True)
    record_stack_bag(Path(tempfile.mkdtemp()), seconds=8.0, bag=FIXTURE_BAG)
    print(f"fixture written to {FIXTURE_BAG}")
