"""ARX R5 plug-in: the SDK-based driver of chatvla2/control/drivers/arx_r5.py on the node's clock.

The SDK reads the arm over CAN; nothing else publishes its state, so this plug-in publishes every
SDK reading as a stamped sensor_msgs/JointState on `joint_state_topic` with the robot YAML's names
(joint1..6 and the gripper opening in metres), the topic the inference node and the recorder read.
The SDK (arx-r5-sdk, CAN bus) is imported only when the driver is made."""
from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from chatvla2.control.drivers.arx_r5 import ArxR5Driver, make_single_arm
from chatvla2.control.drivers.base import JointReading
from chatvla2.control.robot import RobotSpec
from chatvla2.ros.conversions import node_now_s, seconds_to_time
from chatvla2.ros.drivers import DriverPlugin
from chatvla2.ros.qos import SENSOR_QOS


class PublishingArxR5Driver(ArxR5Driver):
    """The SDK driver, publishing each reading it makes (one per control period)."""

    def __init__(self, node: Node, robot: RobotSpec, params: dict[str, Any]) -> None:
        super().__init__(robot, None, params["gripper_open_readout"], lambda: node_now_s(node),
                         open_arm=lambda: make_single_arm(params["can_port"], params["arx_type"]))
        self.node, self.topic = node, params["joint_state_topic"]
        self.publisher = None

    def connect(self) -> None:
        super().connect()
        self.publisher = self.node.create_publisher(JointState, self.topic, SENSOR_QOS)

    def close(self) -> None:
        super().close()
        if self.publisher is not None:
            self.node.destroy_publisher(self.publisher)
        self.publisher = None

    def read_joint_state(self) -> JointReading | None:
        reading = super().read_joint_state()
        if reading is None or self.publisher is None:
            return reading
        msg = JointState(name=list(reading.names), position=np.asarray(reading.positions, dtype=float).tolist())
        msg.header.stamp = seconds_to_time(reading.received_s)
        self.publisher.publish(msg)
        return reading


def make(node: Node, robot: RobotSpec, params: dict[str, Any]) -> ArxR5Driver:
    return PublishingArxR5Driver(node, robot, params)


PLUGIN = DriverPlugin(
    name="arx_r5", make=make, description="ARX R5 through ARX's SDK (SingleArm on a CAN bus)",
    parameters={
        "can_port": ("can0", "CAN interface of the arm"),
        "arx_type": (1, "SingleArm type (0 X5lite, 1 R5)"),
        "gripper_open_readout": (5.03, "gripper motor reading when fully open"),
        "joint_state_topic": ("joint_states", "where the SDK's joint readings are published (sensor_msgs/JointState)"),
    })
