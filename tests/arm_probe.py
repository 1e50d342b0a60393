"""The operator's probe on a running simulated stack (sim_arm + arm_controller over DDS): joint
states (franka_ros2's fingers mapped to the opening), arm commands, diagnostics, chunks to send,
services to call. Shared by the controller's fault and live-parameter tests."""
from __future__ import annotations

import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.robot import load_robot_spec
from chatvla2.control.robot_state import RobotStateAssembler
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS

from ros_testing import REPO, spin_until

PARAMS = str(REPO / "config" / "sim.yaml")


class Probe:
    def __init__(self, context) -> None:
        self.context = context
        self.node = rclpy.create_node("fault_probe", context=context)
        self.states: list[tuple[float, np.ndarray]] = []
        self.assembler = RobotStateAssembler(load_robot_spec("franka_fr3"))
        self.commands: list[tuple[float, np.ndarray]] = []
        self.diagnostics: list[dict] = []
        self.node.create_subscription(JointState, "/joint_states", self.on_state, SENSOR_QOS)
        self.node.create_subscription(JointTrajectory, "/fr3_arm_controller/joint_trajectory",
                                      self.on_command, COMMAND_QOS)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, COMMAND_QOS)
        self.chunks = self.node.create_publisher(JointTrajectory, "/chatvla/action_chunk", COMMAND_QOS)

    def on_state(self, msg):  # the sim arm speaks franka_ros2: fingers -> opening
        state = self.assembler.update(msg.name, msg.position, 0.0)
        if state is not None:
            self.states.append((time.monotonic(), state.positions))

    def on_command(self, msg):
        self.commands.append((time.monotonic(), np.asarray(msg.points[0].positions)))

    def on_diagnostics(self, msg):
        for status in msg.status:
            if status.name == "chatvla2: arm_controller":
                self.diagnostics.append({"message": status.message,
                                         **{kv.key: kv.value for kv in status.values}})

    def spin(self, seconds: float) -> None:
        spin_until(self.context, self.node, lambda: False, seconds)

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def call(self, service: str) -> Trigger.Response:
        client = self.node.create_client(Trigger, service)
        assert spin_until(self.context, self.node, client.service_is_ready, 10.0), service
        future = client.call_async(Trigger.Request())
        assert spin_until(self.context, self.node, future.done, 10.0), service
        return future.result()

    def moved_since(self, t: float) -> float:
        positions = [p for stamp, p in self.states if stamp >= t]
        return float(np.max(np.ptp(np.stack(positions), axis=0))) if len(positions) > 1 else np.inf


def wait_for_log(node_processes, name: str, text: str, probe: Probe, timeout_s: float = 5.0) -> bool:
    return spin_until(probe.context, probe.node, lambda: text in node_processes.log(name), timeout_s)


def stack_probe(rclpy_context, node_processes, ros_domain, *controller_args: str):
    node_processes.start("sim_arm_node", "--params-file", PARAMS)
    node_processes.start("arm_controller_node", "--params-file", PARAMS, *controller_args)
    probe = Probe(rclpy_context)
    assert spin_until(rclpy_context, probe.node, lambda: len(probe.commands) > 20 and probe.states, 30.0), \
        node_processes.log("arm_controller_node")
    return probe


