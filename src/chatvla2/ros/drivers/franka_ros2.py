"""franka_ros2 driver: arm setpoints to a JointTrajectoryController's topic (fr3_joint1..7), the
Franka Hand through franka_gripper's actions (franka_msgs/action/Move, Grasp, Homing) and its
~/stop service; the state from franka_ros2's joint states through the robot's state path
(fr3_finger_joint1 + fr3_finger_joint2 = the opening). Checked against frankarobotics/franka_ros2
v2.5.0 (Humble) / v3.4.0 (Jazzy); docs/control.md lists the interface facts and their sources.

The only module that imports franka_msgs, and only when the driver is made: it exists on a
machine with franka_ros2 installed.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.action import ActionClient
from rclpy.node import Node
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from chatvla2.control.drivers.base import JointReading
from chatvla2.control.robot import RobotSpec
from chatvla2.control.safety import limit_gripper_force
from chatvla2.ros.drivers import DriverPlugin
from chatvla2.ros.joint_messages import RobotStateCache, trajectory_point
from chatvla2.ros.qos import COMMAND_QOS


class FrankaRos2Driver:
    def __init__(self, node: Node, robot: RobotSpec, params: dict[str, Any]) -> None:
        from franka_msgs.action import Grasp, Homing, Move

        self.Grasp, self.Move, self.Homing = Grasp, Move, Homing
        params = dict(params, grasp_force_n=limit_gripper_force(params["grasp_force_n"], robot.gripper.force_max_n))
        self.node, self.robot, self.params = node, robot, params
        self.arm_names = list(robot.joint_names)
        self.joints: RobotStateCache | None = None
        self.publisher = self.move = self.grasp = self.homing = self.gripper_stop = None
        self.last_arm: np.ndarray | None = None
        self.last_width_m: float | None = None
        self.period_s = 0.01

    def connect(self) -> None:
        """franka_ros2's joint states, the trajectory controller's topic, franka_gripper's actions."""
        node, params = self.node, self.params
        self.joints = RobotStateCache(node, self.robot, list(params["joint_state_topics"]))
        self.publisher = node.create_publisher(JointTrajectory, params["command_topic"], COMMAND_QOS)
        namespace = params["gripper_action_namespace"].rstrip("/")
        self.move = ActionClient(node, self.Move, f"{namespace}/move")
        self.grasp = ActionClient(node, self.Grasp, f"{namespace}/grasp")
        self.homing = ActionClient(node, self.Homing, f"{namespace}/homing")
        self.gripper_stop = node.create_client(Trigger, f"{namespace}/stop")

    def close(self) -> None:
        if self.joints is None:
            return
        self.joints.close()
        self.node.destroy_publisher(self.publisher)
        for action in (self.move, self.grasp, self.homing):
            action.destroy()
        self.node.destroy_client(self.gripper_stop)
        self.joints = self.publisher = self.move = self.grasp = self.homing = self.gripper_stop = None

    def read_joint_state(self) -> JointReading | None:
        """Arm joints and the Hand's opening (sum of the finger joints); None until both are heard."""
        return None if self.joints is None else self.joints.reading

    def send_setpoint(self, command: np.ndarray, period_s: float) -> None:
        if self.publisher is None:
            raise RuntimeError("franka_ros2 driver: send_setpoint before connect()")
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
            goal = self.Grasp.Goal(width=width_m, speed=speed, force=force_n)
            goal.epsilon.inner = goal.epsilon.outer = self.params["grasp_epsilon_m"]
            self.grasp.send_goal_async(goal)
        else:
            self.move.send_goal_async(self.Move.Goal(width=width_m, speed=speed))

    def home_gripper(self) -> None:
        self.homing.send_goal_async(self.Homing.Goal())

    def stop(self) -> None:
        """Hold the last setpoint (the trajectory controller keeps a finished trajectory's last
        point) and stop the Hand through franka_gripper's ~/stop service."""
        if self.publisher is None:
            return
        if self.last_arm is not None:
            self.publisher.publish(trajectory_point(self.arm_names, self.last_arm, self.period_s, self.node))
        if self.gripper_stop.service_is_ready():
            self.gripper_stop.call_async(Trigger.Request())


PLUGIN = DriverPlugin(
    name="franka_ros2", make=FrankaRos2Driver,
    description="Franka FR3 through franka_ros2: JointTrajectoryController + franka_gripper actions",
    parameters={
        "command_topic": ("fr3_arm_controller/joint_trajectory",
                          "JointTrajectory topic of the arm's joint trajectory controller"),
        "joint_state_topics": (["joint_states"], "sensor_msgs/JointState topics carrying the arm and finger joints "
                               "(franka_ros2's joint_state_publisher merges both on /joint_states)"),
        "gripper_action_namespace": ("franka_gripper", "namespace of the move/grasp/homing actions"),
        "gripper_speed_m_s": (0.05, "gripper speed for move and grasp (m/s)"),
        "grasp_force_n": (30.0, "grasp force (N), capped by the robot's gripper force limit"),
        "grasp_epsilon_m": (0.08, "grasp epsilon inner and outer (m)"),
        "grasp_below_m": (0.03, "a target opening below this grasps, above it moves (m)"),
        "gripper_deadband_m": (0.005, "send a new gripper goal only past this change (m)"),
    })
