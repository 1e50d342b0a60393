"""ROS helpers every arm driver shares: the newest joint state of a topic, one-point trajectories."""
from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chatvla2.control.drivers.base import JointReading
from chatvla2.ros.conversions import node_now_s, seconds_to_duration
from chatvla2.ros.qos import SENSOR_QOS


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
    """One setpoint as a JointTrajectory: reach `positions` in `period_s`, stamped now."""
    msg = JointTrajectory()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.joint_names = names
    msg.points = [JointTrajectoryPoint(positions=positions.tolist(), time_from_start=seconds_to_duration(period_s))]
    return msg
