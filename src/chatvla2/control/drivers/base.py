"""The one small interface every arm driver speaks: connect, read the joint state, send a
setpoint, drive and home the gripper, stop, close (LeRobot's robot interface has the same
connect/disconnect pair). Making a driver opens nothing: the controller's lifecycle calls
connect() on configure and stop() then close() on cleanup and shutdown. Commands are (J + 1,) arm joint positions (rad) then gripper opening
(m), ordered as RobotSpec.command_names; drivers convert units and names for their hardware.
A ROS driver is registered as a plug-in (chatvla2/ros/drivers/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class JointReading:
    names: tuple[str, ...]
    positions: np.ndarray  # (len(names),) rad, gripper opening in m
    received_s: float      # controller clock time the reading arrived


class ArmDriver(Protocol):
    def connect(self) -> None: ...  # open the link to the hardware (topics, actions, the CAN bus)
    def close(self) -> None: ...  # release it; the driver reads and sends nothing afterwards
    def read_joint_state(self) -> JointReading | None: ...
    def send_setpoint(self, command: np.ndarray, period_s: float) -> None: ...
    def command_gripper(self, width_m: float, force_n: float) -> None: ...
    def home_gripper(self) -> None: ...  # calibrate the gripper (on enable); a no-op where none is needed
    def stop(self) -> None: ...
