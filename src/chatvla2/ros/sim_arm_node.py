"""Simulated arm node: accepts JointTrajectory commands like franka_ros2's joint trajectory
controller and publishes /joint_states, so the controller cannot tell it from a real driver."""
from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.robot import load_robot_spec
from chatvla2.ros.node_helpers import declare, run_node
from chatvla2.ros.qos import COMMAND_QOS
from chatvla2.sim.kinematic_arm import KinematicArm


class SimArmNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim_arm", **kwargs)
        robot = load_robot_spec(declare(self, "robot", "franka_fr3", "Robot description name or YAML path"))
        rate_hz = declare(self, "publish_rate_hz", 100.0, "Simulation steps and /joint_states per second")
        command_topic = declare(self, "command_topic", "/fr3_arm_controller/joint_trajectory",
                                "JointTrajectory topic this arm obeys")
        self.arm = KinematicArm(robot)
        self.names = list(robot.command_names)
        self.dt_s = 1.0 / rate_hz
        self.create_subscription(JointTrajectory, command_topic, self.on_command, COMMAND_QOS)
        self.state_pub = self.create_publisher(JointState, "/joint_states", 10)
        self.create_timer(self.dt_s, self.on_step)

    def on_command(self, msg: JointTrajectory) -> None:
        if not msg.points or sorted(msg.joint_names) != sorted(self.names):
            self.get_logger().error(f"ignored command for joints {list(msg.joint_names)}",
                                    throttle_duration_sec=5.0)
            return
        last = msg.points[-1].positions
        by_name = dict(zip(msg.joint_names, last))
        try:
            self.arm.command(np.array([by_name[name] for name in self.names], dtype=float))
        except ValueError as error:
            self.get_logger().error(f"ignored command: {error}", throttle_duration_sec=5.0)

    def on_step(self) -> None:
        self.arm.step(self.dt_s)
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = self.names
        msg.position = self.arm.positions.tolist()
        msg.velocity = self.arm.velocities.tolist()
        self.state_pub.publish(msg)


def main(args: list[str] | None = None) -> None:
    run_node(SimArmNode, args)
