"""ROS helpers every arm driver shares: the robot's state from its JointState topics, one-point
trajectories."""
from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chatvla2.control.drivers.base import JointReading
from chatvla2.control.robot import RobotSpec
from chatvla2.control.robot_state import RobotStateAssembler
from chatvla2.ros.conversions import node_now_s, seconds_to_duration
from chatvla2.ros.qos import SENSOR_QOS


class RobotStateCache:
    """The newest complete robot state (RobotSpec.command_names) assembled from one or more
    JointState topics by the robot's state path, stamped with the receiving node's clock."""

    def __init__(self, node: Node, robot: RobotSpec, topics: list[str] | str) -> None:
        self.node = node
        self.assembler = RobotStateAssembler(robot)
        self.reading: JointReading | None = None
        self.problem = ""
        self.subscriptions = [node.create_subscription(JointState, topic, self.on_joint_state, SENSOR_QOS)
                              for topic in ([topics] if isinstance(topics, str) else topics)]

    def close(self) -> None:
        """Stop listening; the last reading is forgotten (nothing stale is served later)."""
        for subscription in self.subscriptions:
            self.node.destroy_subscription(subscription)
        self.subscriptions, self.reading = [], None

    def on_joint_state(self, msg: JointState) -> None:
        now_s = node_now_s(self.node)
        try:
            # Stamped on reception: the controller's staleness check runs on its own clock.
            state = self.assembler.update(msg.name, msg.position, now_s)
        except ValueError as error:
            self.problem = str(error)
            self.node.get_logger().error(f"joint state dropped: {error}", throttle_duration_sec=2.0)
            return
        if state is not None:
            self.reading = JointReading(state.names, state.positions, state.stamp_s)


def trajectory_point(names: list[str], positions: np.ndarray, period_s: float, node: Node) -> JointTrajectory:
    """One setpoint as a JointTrajectory: reach `positions` in `period_s`, stamped now."""
    msg = JointTrajectory()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.joint_names = names
    msg.points = [JointTrajectoryPoint(positions=positions.tolist(), time_from_start=seconds_to_duration(period_s))]
    return msg
