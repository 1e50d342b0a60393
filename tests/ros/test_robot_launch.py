"""The robot launch files run the whole stack against test doubles of the vendors' interfaces.

launch/franka.launch.xml (start_franka_ros2:=false) against the franka_ros2 stand-in
(tests/ros/franka_peer.py: franka_ros2's topics, joint names, rates, QoS and franka_gripper's
actions), and launch/arx_r5.launch.xml against a fake of the ARX SDK (tests/ros/fake_arx_sdk),
each node started as the launch file says (tests/launch_xml.py), frames from the camera node.
Checked: chunks are made, nothing reaches the arm in dry run, after /chatvla/enable the arm gets
setpoints within the robot's limits, /chatvla/stop freezes it from the next period, and SIGINT
ends every process cleanly after the driver's stop."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS

# The probe keeps every setpoint: DDS's own threads queue them while this process is busy (a
# depth-10 queue lost ~50 setpoints in a 0.5 s stall on the loaded 2-core machine, which read
# as a 0.40 rad jump the arm never got).
EVERY_SETPOINT_QOS = QoSProfile(depth=100000, history=HistoryPolicy.KEEP_LAST,
                                reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

from launch_xml import plan
from ros_testing import REPO, spin_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MODEL = str(REPO / "models" / "chatvla2-tiny")


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")] if path.exists() else []


class Probe:
    """The operator's view: chunks, what the arm gets, diagnostics, and the services."""

    def __init__(self, context, command_topic: str | None) -> None:
        self.context = context
        self.node = rclpy.create_node("launch_probe", context=context)
        self.chunks, self.would, self.commands, self.states = [], [], [], []
        self.node.create_subscription(JointTrajectory, "/chatvla/action_chunk", self.chunks.append, COMMAND_QOS)
        self.node.create_subscription(JointTrajectory, "/arm_controller/would_command",
                                      lambda m: self.would.append(m), EVERY_SETPOINT_QOS)
        if command_topic:
            self.node.create_subscription(JointTrajectory, command_topic,
                                          lambda m: self.commands.append((time.monotonic(), m)), EVERY_SETPOINT_QOS)
        self.node.create_subscription(JointState, "/joint_states", self.states.append, SENSOR_QOS)

    def until(self, predicate, timeout_s: float) -> bool:
        return spin_until(self.context, self.node, predicate, timeout_s)

    def call(self, service: str) -> tuple[float, float, Trigger.Response]:
        """(sent, answered) monotonic times and the response."""
        client = self.node.create_client(Trigger, service)
        assert self.until(client.service_is_ready, 20.0), f"{service} not offered"
        sent = time.monotonic()
        future = client.call_async(Trigger.Request())
        assert self.until(future.done, 20.0), f"{service} did not answer"
        return sent, time.monotonic(), future.result()


def start_launch(node_processes, launch_file: str, overrides: dict, monkeypatch) -> None:
    launch = plan(REPO / "launch" / launch_file, overrides)
    for name, value in launch.env.items():
        monkeypatch.setenv(name, value)
    for node in launch.nodes:
        node_processes.start(node["exec"], *node["ros_args"], name=node["name"])


def positions(msg: JointTrajectory, names) -> np.ndarray:
    by_name = dict(zip(msg.joint_names, msg.points[-1].positions))
    return np.array([by_name[n] for n in names])


def check_limits(commands, robot, config: dict) -> dict:
    """Every setpoint the arm got: inside the limits with the margin, steps within max_step_rad
    and the scaled velocity limit. Returns the figures for the report."""
    arm = np.array([positions(m, robot.joint_names) for _, m in commands])  # (N, J)
    margin = config["position_margin_rad"]
    assert np.all(arm >= robot.position_min_rad + margin - 1e-9) and np.all(arm <= robot.position_max_rad - margin + 1e-9)
    steps = np.abs(np.diff(arm, axis=0))  # (N - 1, J)
    period = 1.0 / config["control_rate_hz"]
    allowed = np.minimum(config["max_step_rad"], config["velocity_scale"] * robot.velocity_max_rad_s * period)
    violations = int(np.sum(steps > allowed + 1e-9))
    where = sorted({int(i) for i in np.argwhere(steps > allowed + 1e-9)[:, 0]})
    return {"commands": len(arm), "largest_step_rad": float(steps.max()) if len(steps) else 0.0,
            "limit_violations": violations,
            "violating_steps": [(i, arm[i].round(4).tolist(), arm[i + 1].round(4).tolist()) for i in where[:3]]}


def stop_and_measure(probe: Probe, setpoints) -> tuple[float, float]:
    """Call /chatvla/stop; `setpoints()` gives (monotonic time, arm positions) of what the arm got.
    Returns (latency from the call to the first setpoint from which on all are equal, the
    service's round trip). The arm must be frozen from the first setpoint after the answer."""
    sent, answered, response = probe.call("/chatvla/stop")
    assert response.success, response.message
    probe.until(lambda: False, 1.0)
    after = [(t, p) for t, p in setpoints() if t >= sent]
    assert len(after) > 20, "the controller stopped sending setpoints after stop"
    first_frozen = next(i for i in range(len(after)) if all(np.array_equal(after[i][1], p) for _, p in after[i:]))
    frozen_at = after[first_frozen][0]
    first_after_answer = next(t for t, _ in after if t >= answered)
    assert frozen_at <= first_after_answer, f"setpoints still moved {frozen_at - answered:.3f} s after stop answered"
    return frozen_at - sent, answered - sent


def end_all(node_processes, names) -> dict[str, int]:
    for name in names:  # as a terminal's Ctrl-C reaches every process of a launch
        node_processes.procs[name].send_signal(2)
    return {name: node_processes.stop(name, timeout_s=20.0) for name in names}


@pytest.mark.parametrize("fake_hardware", [False, True], ids=["franka_hand", "use_fake_hardware"])
def test_franka_launch_runs_the_shipped_model_against_franka_ros2(
        fake_hardware, franka_msgs_env, monkeypatch, rclpy_context, node_processes, tmp_path):
    robot = load_robot_spec("franka_fr3")
    config = {"position_margin_rad": 0.05, "control_rate_hz": 100.0, "max_step_rad": 0.01, "velocity_scale": 0.3}
    for name, value in franka_msgs_env.items():
        monkeypatch.setenv(name, value)
    peer_log = tmp_path / "franka_ros2.log"
    peer = subprocess.Popen([sys.executable, str(REPO / "tests" / "ros" / "franka_peer.py")]
                            + (["--fake-hardware"] if fake_hardware else []),
                            stdout=peer_log.open("w"), stderr=subprocess.STDOUT)
    node_processes.procs["franka_ros2"] = peer
    start_launch(node_processes, "franka.launch.xml", {
        "start_franka_ros2": "false", "use_fake_hardware": str(fake_hardware).lower(), "policy": MODEL,
        "device": "cpu", "camera_source": "synthetic:3 + 4 = ?"}, monkeypatch)
    probe = Probe(rclpy_context, "/fr3_arm_controller/joint_trajectory")
    logs = lambda: {n: node_processes.log(n)[-3000:] for n in ("arm_controller", "inference")}  # noqa: E731

    assert probe.until(lambda: len(probe.chunks) >= 2, 240.0), logs()
    assert probe.chunks[0].joint_names == list(robot.command_names)
    assert probe.until(lambda: len(probe.would) > 20, 20.0), logs()
    assert probe.commands == [], "dry run sent setpoints to fr3_arm_controller"

    *_, response = probe.call("/chatvla/enable")
    assert response.success, (response.message, logs())
    assert probe.until(lambda: len(probe.commands) > 300, 30.0), logs()
    if not fake_hardware:  # franka_gripper's Homing goal on enable; the fake gripper has no actions
        assert probe.until(lambda: {"goal": "homing"} in events(peer_log), 10.0), events(peer_log)
    figures = check_limits(probe.commands, robot, config)
    stop_latency_s, round_trip_s = stop_and_measure(
        probe, lambda: [(t, positions(m, robot.joint_names)) for t, m in probe.commands])
    chunks_made = len(probe.chunks)
    codes = end_all(node_processes, ["inference", "camera", "arm_controller"])
    assert codes == {"inference": 0, "camera": 0, "arm_controller": 0}, (codes, logs())
    assert "shutdown: driver stopped" in node_processes.log("arm_controller")
    if not fake_hardware:
        assert probe.until(lambda: {"gripper_stop": True} in events(peer_log), 5.0), events(peer_log)
    gripper_goals = [e for e in events(peer_log) if "goal" in e]
    node_processes.stop("franka_ros2")
    arm_record = next(e for e in events(peer_log) if e.get("summary"))  # what the arm itself got
    print(f"\nfranka ({'fake hardware' if fake_hardware else 'hand'}): chunks {chunks_made}, {figures}, "
          f"stop latency {stop_latency_s * 1e3:.1f} ms (service round trip {round_trip_s * 1e3:.1f} ms), gripper goals {gripper_goals}, exit codes {codes}, "
          f"the arm's own largest step {arm_record['largest_step_rad']:.4f} rad of {arm_record['commands']} setpoints")
    assert figures["limit_violations"] == 0, figures
    assert arm_record["largest_step_rad"] <= config["max_step_rad"] + 1e-3, arm_record


def test_franka_width_comes_from_the_finger_joints_franka_ros2_publishes(
        franka_msgs_env, monkeypatch, rclpy_context, node_processes, tmp_path):
    """The inference node's state: with the Hand at 0.03 m (two fingers at 0.015 m on
    /franka_gripper/joint_states) the policy sees 0.03 m."""
    for name, value in franka_msgs_env.items():
        monkeypatch.setenv(name, value)
    peer = subprocess.Popen([sys.executable, str(REPO / "tests" / "ros" / "franka_peer.py"), "--arm-rate-hz", "200",
                             "--width", "0.03"],
                            stdout=(tmp_path / "peer.log").open("w"), stderr=subprocess.STDOUT)
    node_processes.procs["franka_ros2"] = peer
    start_launch(node_processes, "franka.launch.xml", {
        "start_franka_ros2": "false", "policy": "placeholder", "device": "cpu",
        "camera_source": "synthetic:3 + 4 = ?"}, monkeypatch)
    bag = tmp_path / "franka_bag"
    node_processes.start("recorder_node", "--params-file", str(REPO / "config" / "franka.yaml"),
                         "-p", f"output:={bag}", name="recorder")  # franka_ros2's two source topics
    probe = Probe(rclpy_context, None)
    assert probe.until(lambda: len(probe.chunks) >= 3, 60.0), node_processes.log("inference")[-3000:]
    first = np.array(probe.chunks[-1].points[0].positions)
    # The placeholder's first row is 1/16 of the way from the measured state to home (open, 0.08 m).
    assert abs(first[-1] - (0.03 + (0.08 - 0.03) / 16)) < 1e-6, first
    probe.until(lambda: len(probe.chunks) >= 75, 30.0)
    assert node_processes.stop("recorder") == 0, node_processes.log("recorder")

    # The bag a lab records on franka_ros2 converts and replays with the same state path.
    from chatvla2.data.bag2dataset import episodes_from_recording
    from chatvla2.data.bag_reader import read_stack_bag
    from chatvla2.data.replay import replay
    from chatvla2.policy.loading import load_policy

    robot = load_robot_spec("franka_fr3")
    recording = read_stack_bag(bag)
    episodes = episodes_from_recording(recording, robot, ["front"], with_reasoning=False)
    qpos = np.concatenate([e.qpos for e in episodes])  # (T, 8)
    assert len(qpos) >= 10 and np.all(np.abs(qpos[:, 7] - 0.03) < 1e-6), qpos[:, 7]
    result = replay(recording, load_policy("placeholder", robot), robot, ["front"])
    assert len(result.steps) >= 10
    print(f"\nfranka bag: {len(qpos)} rows, opening {qpos[:, 7].min():.6f}..{qpos[:, 7].max():.6f} m, "
          f"replayed {len(result.steps)} steps")


def test_arx_launch_publishes_sdk_joint_states_and_drives_the_sdk(monkeypatch, rclpy_context, node_processes, tmp_path):
    robot = load_robot_spec("arx_r5")
    sdk_log = tmp_path / "arx_sdk.jsonl"
    monkeypatch.setenv("PYTHONPATH", f"{REPO / 'tests' / 'ros' / 'fake_arx_sdk'}:{__import__('os').environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("FAKE_ARX_SDK_LOG", str(sdk_log))
    # The shipped model is trained for franka_fr3; on the R5 the placeholder policy makes the chunks.
    start_launch(node_processes, "arx_r5.launch.xml", {
        "policy": "placeholder", "device": "cpu", "camera_source": "synthetic:3 + 4 = ?"}, monkeypatch)
    probe = Probe(rclpy_context, None)
    logs = lambda: {n: node_processes.log(n)[-3000:] for n in ("arm_controller", "inference")}  # noqa: E731
    assert probe.until(lambda: len(probe.states) > 50 and len(probe.chunks) >= 2, 60.0), logs()
    assert probe.states[-1].name == list(robot.command_names)
    stamps = [s.header.stamp.sec + s.header.stamp.nanosec * 1e-9 for s in probe.states[-20:]]
    assert np.all(np.diff(stamps) > 0), "joint states must be stamped by each SDK reading"
    assert not [e for e in events(sdk_log) if e["call"] == "set_joint_positions"], "dry run moved the arm"

    *_, response = probe.call("/chatvla/enable")
    assert response.success, (response.message, logs())
    assert probe.until(lambda: sum(e["call"] == "set_joint_positions" for e in events(sdk_log)) > 200, 30.0), logs()
    sent = [e for e in events(sdk_log) if e["call"] == "set_joint_positions"]
    arm = np.array([e["args"] for e in sent])  # (N, 6)
    steps = np.abs(np.diff(arm, axis=0))
    allowed = np.minimum(0.01, 0.3 * robot.velocity_max_rad_s * 0.01)
    violations = int(np.sum(steps > allowed + 1e-9))
    assert np.all(arm >= robot.position_min_rad + 0.05 - 1e-9) and np.all(arm <= robot.position_max_rad - 0.05 + 1e-9)
    assert any(e["call"] == "set_catch_pos" for e in events(sdk_log)), "the gripper was never commanded"
    stop_latency_s, round_trip_s = stop_and_measure(probe, lambda: [
        (e["t"], np.array(e["args"])) for e in events(sdk_log) if e["call"] == "set_joint_positions"])
    count_before_exit = len(events(sdk_log))
    codes = end_all(node_processes, ["inference", "camera", "arm_controller"])
    assert codes == {"inference": 0, "camera": 0, "arm_controller": 0}, (codes, logs())
    tail = events(sdk_log)[count_before_exit:]
    assert any(e["call"] == "set_joint_positions" for e in tail), "shutdown did not call the driver's stop (hold)"
    print(f"\narx_r5: chunks {len(probe.chunks)}, SDK setpoints {len(sent)}, largest step {steps.max():.4f} rad, "
          f"limit violations {violations}, stop latency {stop_latency_s * 1e3:.1f} ms "
          f"(service round trip {round_trip_s * 1e3:.1f} ms), exit codes {codes}")
    assert violations == 0
