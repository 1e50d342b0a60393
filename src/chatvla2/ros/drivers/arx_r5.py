"""ARX R5 plug-in: the SDK-based driver of chatvla2/control/drivers/arx_r5.py on the node's clock.
The SDK (arx-r5-sdk, CAN bus) is imported only when the driver is made."""
from __future__ import annotations

from typing import Any

from rclpy.node import Node

from chatvla2.control.drivers.arx_r5 import ArxR5Driver, make_single_arm
from chatvla2.control.robot import RobotSpec
from chatvla2.ros.conversions import node_now_s
from chatvla2.ros.drivers import DriverPlugin


def make(node: Node, robot: RobotSpec, params: dict[str, Any]) -> ArxR5Driver:
    return ArxR5Driver(robot, make_single_arm(params["can_port"], params["arx_type"]),
                       params["gripper_open_readout"], lambda: node_now_s(node))


PLUGIN = DriverPlugin(
    name="arx_r5", make=make, description="ARX R5 through ARX's SDK (SingleArm on a CAN bus)",
    parameters={
        "can_port": ("can0", "CAN interface of the arm"),
        "arx_type": (1, "SingleArm type (0 X5lite, 1 R5)"),
        "gripper_open_readout": (5.03, "gripper motor reading when fully open"),
    })
