"""Arm drivers selected by the controller's `driver` parameter: sim | franka_ros2 | arx_r5.

DRIVER_PARAMETERS lists every driver's parameters so the node declares them all (launch files are
checked against it); the driver modules are imported only when selected, so franka_msgs and the
ARX SDK are needed only on the machine that drives that robot.
"""
from __future__ import annotations

from typing import Any

from rclpy.node import Node

from chatvla2.control.drivers.base import ArmDriver
from chatvla2.control.robot import RobotSpec

DRIVERS = ("sim", "franka_ros2", "arx_r5")

DRIVER_PARAMETERS: dict[str, tuple[Any, str]] = {
    "command_topic": ("/fr3_arm_controller/joint_trajectory",
                      "sim, franka_ros2: JointTrajectory topic of the arm's joint trajectory controller"),
    "joint_state_topic": ("/joint_states", "sim, franka_ros2: sensor_msgs/JointState topic"),
    "gripper_action_namespace": ("/franka_gripper", "franka_ros2: namespace of the move/grasp/homing actions"),
    "finger_joint_names": (["fr3_finger_joint1", "fr3_finger_joint2"],
                           "franka_ros2: finger joints whose positions add up to the opening"),
    "gripper_speed_m_s": (0.05, "franka_ros2: gripper speed for move and grasp (m/s)"),
    "grasp_force_n": (30.0, "franka_ros2: grasp force (N), capped by the robot's gripper force limit"),
    "grasp_epsilon_m": (0.08, "franka_ros2: grasp epsilon inner and outer (m)"),
    "grasp_below_m": (0.03, "franka_ros2: a target opening below this grasps, above it moves (m)"),
    "gripper_deadband_m": (0.005, "franka_ros2, sim: send a new gripper goal only past this change (m)"),
    "home_gripper_on_enable": (True, "franka_ros2: run the homing action when actuation is enabled"),
    "can_port": ("can0", "arx_r5: CAN interface of the arm"),
    "arx_type": (1, "arx_r5: SingleArm type (0 X5lite, 1 R5)"),
    "gripper_open_readout": (5.03, "arx_r5: gripper motor reading when fully open"),
}


def make_driver(name: str, node: Node, robot: RobotSpec, params: dict[str, Any]) -> ArmDriver:
    if name == "sim":
        from chatvla2.ros.drivers.sim import SimDriver
        return SimDriver(node, robot, params)
    if name == "franka_ros2":
        from chatvla2.ros.drivers.franka_ros2 import FrankaRos2Driver
        return FrankaRos2Driver(node, robot, params)
    if name == "arx_r5":
        from chatvla2.control.drivers.arx_r5 import ArxR5Driver, make_single_arm
        from chatvla2.ros.conversions import node_now_s
        return ArxR5Driver(robot, make_single_arm(params["can_port"], params["arx_type"]),
                           params["gripper_open_readout"], lambda: node_now_s(node))
    raise ValueError(f"arm_controller parameter driver must be one of {DRIVERS}, got '{name}'")
