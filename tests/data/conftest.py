"""Record bags from the running simulated stack (real processes over real DDS) for the bag tests."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer

from chatvla2.data.bag_writer import TYPESTORE

REPO = Path(__file__).resolve().parents[2]
FIXTURE_BAG = Path(__file__).parent / "sim_stack_bag"


def small_stack_params(tmp: Path) -> Path:
    """config/sim.yaml with small camera frames, so bags stay small and recording stays cheap."""
    params = yaml.safe_load((REPO / "config" / "sim.yaml").read_text())
    params["/**/camera"]["ros__parameters"].update(width=96, height=72)
    path = tmp / "sim_small.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def stack_env() -> dict[str, str]:
    # Linux keeps domain ids below 102 clear of the ephemeral port range (tests/ros/conftest.py).
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(10, 99)),
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
        deadline = time.monotonic() + 60.0  # wait for the stack to come up on a busy machine
        while time.monotonic() < deadline and sum(f.stat().st_size for f in bag.glob("*.mcap")) < 30_000:
            time.sleep(0.2)
        time.sleep(seconds)
    finally:
        stop(recorder)
        stop(stack)
    return bag


@pytest.fixture(scope="session")
def stack_bag(tmp_path_factory) -> Path:
    """A bag recorded in this test session from the running simulated stack."""
    # 6 s: with 4 s a run of tests/data on a fresh clone replayed 8 steps, under the replay test's 10
    return record_stack_bag(tmp_path_factory.mktemp("stack_bag"), seconds=6.0)


# Synthetic bags written directly with rosbags (clean or broken on purpose).
T = TYPESTORE.types
NAMES = ["fr3_joint1", "fr3_joint2", "fr3_joint3", "fr3_joint4", "fr3_joint5", "fr3_joint6",
         "fr3_joint7", "fr3_finger_width"]


def header(t_s: float):
    sec = int(t_s)
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(round((t_s - sec) * 1e9))),
                                    frame_id="")


def image(t_s: float, encoding: str = "rgb8", value: int = 100):
    data = np.full(4 * 6 * 3, value, dtype=np.uint8)
    return T["sensor_msgs/msg/Image"](header=header(t_s), height=4, width=6, encoding=encoding,
                                      is_bigendian=0, step=18, data=data)


def joint_state(t_s: float, q: float = 0.0):
    """As franka_ros2 publishes it: the arm joints and the Hand's two finger joints (q each)."""
    names = NAMES[:7] + ["fr3_finger_joint1", "fr3_finger_joint2"]
    return T["sensor_msgs/msg/JointState"](header=header(t_s), name=names, position=np.full(9, q),
                                           velocity=np.zeros(9), effort=np.zeros(0))


def trajectory(t_s: float, q: float, points: int = 1):
    duration = T["builtin_interfaces/msg/Duration"]
    return T["trajectory_msgs/msg/JointTrajectory"](header=header(t_s), joint_names=NAMES, points=[
        T["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=np.full(8, q), velocities=np.zeros(0), accelerations=np.zeros(0), effort=np.zeros(0),
            time_from_start=duration(sec=0, nanosec=100_000_000 * (k + 1))) for k in range(points)])


def write_bag(path: Path, messages: list[tuple[str, str, float, object]],
              storage: StoragePlugin = StoragePlugin.MCAP) -> Path:
    """messages: (topic, msgtype, log time s, rosbags message)."""
    with Writer(path, version=9, storage_plugin=storage) as writer:
        connections = {}
        for topic, msgtype, t_s, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            writer.write(connections[topic], int(t_s * 1e9), TYPESTORE.serialize_cdr(msg, msgtype))
    return path


def good_messages(n: int = 5) -> list:
    messages = [("/chatvla/instruction", "std_msgs/msg/String", 0.5, T["std_msgs/msg/String"](data="add 3 + 4"))]
    for i in range(n):
        t_s = 1.0 + 0.2 * i
        messages += [("/joint_states", "sensor_msgs/msg/JointState", t_s - 0.01, joint_state(t_s - 0.01, 0.01 * i)),
                     ("/cameras/front/image_raw", "sensor_msgs/msg/Image", t_s, image(t_s)),
                     ("/chatvla/action_chunk", "trajectory_msgs/msg/JointTrajectory", t_s + 0.01, trajectory(t_s, 0.1, 16)),
                     ("/fr3_arm_controller/joint_trajectory", "trajectory_msgs/msg/JointTrajectory", t_s + 0.05,
                      trajectory(t_s + 0.05, 0.02 * i))]
    return messages


@pytest.fixture
def bags():
    """The synthetic-bag helpers above (tests cannot import conftest in importlib mode)."""
    return sys.modules[__name__]


if __name__ == "__main__":
    # Re-create the committed fixture: python tests/data/conftest.py
    import shutil
    import tempfile

    shutil.rmtree(FIXTURE_BAG, ignore_errors=True)
    record_stack_bag(Path(tempfile.mkdtemp()), seconds=8.0, bag=FIXTURE_BAG)
    print(f"fixture written to {FIXTURE_BAG}")
