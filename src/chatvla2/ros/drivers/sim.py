"""Simulation driver: speaks to sim_arm_node like franka_ros2's joint trajectory controller, with
the gripper opening as one more joint of the trajectory."""
from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.drivers.base import JointReading
from chatvla2.control.robot import RobotSpec
from chatvla2.ros.drivers import DriverPlugin
from chatvla2.ros.joint_messages import RobotStateCache, trajectory_point
from chatvla2.ros.qos import COMMAND_QOS


class SimDriver:
    def __init__(self, node: Node, robot: RobotSpec, params: dict[str, Any]) -> None:
        self.node, self.robot, self.params, self.names = node, robot, params, list(robot.command_names)
        self.joints: RobotStateCache | None = None
        self.publisher = None
        self.last: np.ndarray | None = None
        self.period_s = 0.01

    def connect(self) -> None:
        self.joints = RobotStateCache(self.node, self.robot, list(self.params["joint_state_topics"]))
        self.publisher = self.node.create_publisher(JointTrajectory, self.params["command_topic"], COMMAND_QOS)

    def close(self) -> None:
        if self.joints is not None:
            self.joints.close()
            self.node.destroy_publisher(self.publisher)
        self.joints = self.publisher = None

    def read_joint_state(self) -> JointReading | None:
        return None if self.joints is None else self.joints.reading

    def send_setpoint(self, command: np.ndarray, period_s: float) -> None:
        if self.publisher is None:
            raise RuntimeError("sim driver: send_setpoint before connect()")
        self.last, self.period_s = np.asarray(command, dtype=float), period_s
        self.publisher.publish(trajectory_point(self.names, self.last, period_s, self.node))

    def command_gripper(self, width_m: float, force_n: float) -> None:
        if self.last is not None:
            command = self.last.copy()
            command[-1] = width_m
            self.send_setpoint(command, self.period_s)

    def home_gripper(self) -> None:
        """The simulated gripper needs no calibration."""

    def stop(self) -> None:
        if self.last is not None and self.publisher is not None:
            self.send_setpoint(self.last, self.period_s)


PLUGIN = DriverPlugin(
    name="sim", make=SimDriver, description="sim_arm_node (MuJoCo or kinematic) over JointTrajectory",
    parameters={
        "command_topic": ("fr3_arm_controller/joint_trajectory", "JointTrajectory topic the sim arm obeys"),
        "joint_state_topics": (["joint_states"], "sensor_msgs/JointState topics of the sim arm"),
    })
