"""Simulation driver: speaks to sim_arm_node like franka_ros2's joint trajectory controller, with
the gripper opening as one more joint of the trajectory."""
from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chatvla2.control.drivers.base import JointReading
from chatvla2.control.robot import RobotSpec
from chatvla2.ros.conversions import node_now_s, seconds_to_duration
from chatvla2.ros.qos import COMMAND_QOS, SENSOR_QOS


class JointStateCache:
    """The newest JointState of a topic, stamped with the receiving node's clock."""

    def __init__(self, node: Node, topic: str) -> None:
        self.node = node
        self.reading: JointReading | None = None
        node.create_subscription(JointState, topic, self.on_joint_state, SENSOR_QOS)

    def on_joint_state(self, msg: JointState) -> None:
        self.reading = JointReading(tuple(msg.name), np.asarray(msg.position, dtype=float),
                                    node_now_s(self.node))


def trajectory_point(names: list[str], positions: np.ndarray, period_s: float, node: Node) -> JointTrajectory:
    msg = JointTrajectory()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.joint_names = names
    msg.points = [JointTrajectoryPoint(positions=positions.tolist(), time_from_start=seconds_to_duration(period_s))]
    return msg


class SimDriver:
    def __init__(self, node: Node, robot: RobotSpec, params: dict[str, Any]) -> None:
        self.node, self.names = node, list(robot.command_names)
        self.joints = JointStateCache(node, params["joint_state_topic"])
        self.publisher = node.create_publisher(JointTrajectory, params["command_topic"], COMMAND_QOS)
        self.last: np.ndarray | None = None
        self.period_s = 0.01

    def read_joint_state(self) -> JointReading | None:
        return self.joints.reading

    def send_setpoint(self, command: np.ndarray, period_s: float) -> None:
        self.last, self.period_s = np.asarray(command, dtype=float), period_s
        self.publisher.publish(trajectory_point(self.names, self.last, period_s, self.node))

    def command_gripper(self, width_m: float, force_n: float) -> None:
        if self.last is not None:
            command = self.last.copy()
            command[-1] = width_m
            self.send_setpoint(command, self.period_s)

    def stop(self) -> None:
        if self.last is not None:
            self.send_setpoint(self.last, self.period_s)
