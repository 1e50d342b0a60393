"""The franka_ros2 driver inside the real controller node against a test peer that serves the
franka_msgs gripper actions (built from the franka_ros2 definitions) and a trajectory topic:
dry-run sends nothing, /chatvla/enable homes the gripper, chunks reach fr3_arm_controller with
fr3 joint names, and closing the gripper sends a Grasp goal with the configured force."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import rclpy
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.conversions import chunk_to_trajectory
from chatvla2.ros.qos import COMMAND_QOS

from ros_testing import REPO, spin_until

pytestmark = pytest.mark.integration
ROBOT = load_robot_spec("franka_fr3")


def peer_events(node_processes) -> list[dict]:
    return [json.loads(line) for line in node_processes.log("franka_peer").splitlines() if line.startswith("{")]


def test_franka_driver_against_the_franka_msgs_peer(franka_msgs_env, monkeypatch, rclpy_context, node_processes):
    for name, value in franka_msgs_env.items():
        monkeypatch.setenv(name, value)
    peer = subprocess.Popen([sys.executable, str(REPO / "tests" / "ros" / "franka_peer.py")],
                            stdout=open(node_processes.log_dir / "franka_peer.log", "w"), stderr=subprocess.STDOUT)
    node_processes.procs["franka_peer"] = peer
    node_processes.start("arm_controller_node", "--params-file", str(REPO / "config" / "franka.yaml"))
    node = rclpy.create_node("franka_probe", context=rclpy_context)
    would = []
    node.create_subscription(JointTrajectory, "/arm_controller/would_command", would.append, COMMAND_QOS)
    chunks = node.create_publisher(JointTrajectory, "/chatvla/action_chunk", COMMAND_QOS)
    log = lambda: node_processes.log("arm_controller_node")  # noqa: E731

    # Dry-run: what it would command is published, nothing reaches the arm's controller.
    assert spin_until(rclpy_context, node, lambda: len(would) > 50, 30.0), log()
    assert not [e for e in peer_events(node_processes) if "trajectory" in e], "dry-run sent commands"
    assert "DRY-RUN" in log()

    client = node.create_client(Trigger, "/chatvla/enable")
    assert spin_until(rclpy_context, node, client.service_is_ready, 10.0)
    future = client.call_async(Trigger.Request())
    assert spin_until(rclpy_context, node, future.done, 10.0) and future.result().success, future.result()
    assert spin_until(rclpy_context, node, lambda: {"goal": "homing"} in peer_events(node_processes), 10.0)

    # Chunks at 10 Hz, as inference sends them, that nudge joint 1 and close the gripper from
    # 75 mm towards 10 mm at 40 mm/s.
    assert spin_until(rclpy_context, node, lambda: chunks.get_subscription_count() > 0, 10.0)

    def grasped() -> bool:
        return any(e.get("goal") == "grasp" for e in peer_events(node_processes))

    start = node.get_clock().now().nanoseconds * 1e-9
    for _ in range(60):
        stamp = node.get_clock().now().nanoseconds * 1e-9
        times = stamp - start + 0.1 * np.arange(1, 17)  # (H,)
        rows = np.tile(ROBOT.home_command, (16, 1))  # (H, 8)
        rows[:, 0] += np.minimum(0.05, 0.02 * times)
        rows[:, 7] = np.maximum(0.01, 0.075 - 0.04 * times)
        chunks.publish(chunk_to_trajectory(ActionChunk(ROBOT.command_names, rows, 0.1, stamp)))
        if spin_until(rclpy_context, node, grasped, 0.1):
            break
    assert grasped(), (peer_events(node_processes), log())
    events = peer_events(node_processes)
    trajectories = [e for e in events if "trajectory" in e]
    assert trajectories and trajectories[0]["trajectory"] == [f"fr3_joint{i}" for i in range(1, 8)]
    grasp = next(e for e in events if e.get("goal") == "grasp")
    assert grasp["width"] < 0.03 and grasp["force"] == 30.0 and grasp["epsilon"] == [0.08, 0.08]
    assert any(e.get("goal") == "move" for e in events)  # opening changes above 30 mm: Move goals
    node.destroy_node()
