"""franka_ros2 driver: arm setpoints to a JointTrajectoryController's topic (fr3_joint1..7), the
Franka Hand through franka_gripper's actions (franka_msgs/action/Move, Grasp, Homing).

The only module that imports franka_msgs: it exists on a machine with franka_ros2 installed.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from franka_msgs.action import Grasp, Homing, Move
from rclpy.action import ActionClient
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.drivers.base import JointReading
from chatvla2.control.robot import RobotSpec
from chatvla2.ros.drivers.sim import JointStateCache, trajectory_point
from chatvla2.ros.qos import COMMAND_QOS


class FrankaRos2Driver:
    def __init__(self, node: Node, robot: RobotSpec, params: dict[str, Any]) -> None:
        self.node, self.robot, self.params = node, robot, params
        self.arm_names = list(robot.joint_names)
        self.fingers = list(params["finger_joint_names"])
        self.joints = JointStateCache(node, params["joint_state_topic"])
        self.publisher = node.create_publisher(JointTrajectory, params["command_topic"], COMMAND_QOS)
        namespace = params["gripper_action_namespace"].rstrip("/")
        self.move = ActionClient(node, Move, f"{namespace}/move")
        self.grasp = ActionClient(node, Grasp, f"{namespace}/grasp")
        self.homing = ActionClient(node, Homing, f"{namespace}/homing")
        self.last_arm: np.ndarray | None = None
        self.last_width_m: float | None = None
        self.period_s = 0.01

    def read_joint_state(self) -> JointReading | None:
        reading = self.joints.reading
        if reading is None:
            return None
        index = {name: i for i, name in enumerate(reading.names)}
        if all(name in index for name in self.fingers):
            width = sum(reading.positions[index[name]] for name in self.fingers)
        else:  # gripper state not merged into this topic: report the last commanded opening
            width = self.last_width_m if self.last_width_m is not None else self.robot.gripper.width_max_m
        return JointReading(reading.names + (self.robot.gripper.joint_name,),
                            np.append(reading.positions, width), reading.received_s)

    def send_setpoint(self, command: np.ndarray, period_s: float) -> None:
        command = np.asarray(command, dtype=float)
        self.last_arm, self.period_s = command[:-1], period_s
        self.publisher.publish(trajectory_point(self.arm_names, self.last_arm, period_s, self.node))
        self.command_gripper(float(command[-1]), self.params["grasp_force_n"])

    def command_gripper(self, width_m: float, force_n: float) -> None:
        """A goal only when the opening changed past the deadband: grasp when closing on an object."""
        if self.last_width_m is not None and abs(width_m - self.last_width_m) < self.params["gripper_deadband_m"]:
            return
        self.last_width_m = width_m
        speed = self.params["gripper_speed_m_s"]
        if width_m < self.params["grasp_below_m"]:
            goal = Grasp.Goal(width=width_m, speed=speed, force=force_n)
            goal.epsilon.inner = goal.epsilon.outer = self.params["grasp_epsilon_m"]
            self.grasp.send_goal_async(goal)
        else:
            self.move.send_goal_async(Move.Goal(width=width_m, speed=speed))

    def home_gripper(self) -> None:
        self.homing.send_goal_async(Homing.Goal())

    def stop(self) -> None:
        if self.last_arm is not None:
            self.publisher.publish(trajectory_point(self.arm_names, self.last_arm, self.period_s, self.node))
