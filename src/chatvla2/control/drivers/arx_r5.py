"""ARX R5 driver: wraps ARX's `arx-r5-sdk` SingleArm (CAN bus). Never imported unless selected.

SingleArm methods used (arx-r5-sdk 1.0.0, single_arm.py): get_joint_positions() -> 7 values (six
joints in rad, then the gripper motor reading), set_joint_positions(6 values in rad),
set_catch_pos(gripper motor reading), protect_mode(). The gripper reading runs from 0 (closed)
to `gripper_open_readout` (fully open, 5.03 in ARX's X5/R5 config), i.e. linear in the opening.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from chatvla2.control.drivers.base import JointReading
from chatvla2.control.robot import RobotSpec


def make_single_arm(can_port: str, arm_type: int) -> Any:
    try:
        from arx_r5_sdk import SingleArm
    except ImportError as error:
        raise ImportError("driver 'arx_r5' needs ARX's SDK: pip install arx-r5-sdk (CPython 3.12 "
                          f"build, CAN interface up: ip link set {can_port} up type can bitrate 1000000)"
                          f" ({error})") from None
    return SingleArm({"can_port": can_port, "type": arm_type, "num_joints": 6})


class ArxR5Driver:
    """`arm`: an SDK SingleArm already open, or None with `open_arm` (e.g. `make_single_arm` on the
    configured CAN port), which connect() calls; close() drops the SDK object, whose destructor
    closes the CAN socket (SingleArm has no close method)."""

    def __init__(self, robot: RobotSpec, arm: Any | None, gripper_open_readout: float = 5.03,
                 clock: Callable[[], float] = time.monotonic, open_arm: Callable[[], Any] | None = None) -> None:
        if len(robot.joint_names) != 6:
            raise ValueError(f"arx_r5 driver needs a 6-joint robot description, {robot.name} has "
                             f"{len(robot.joint_names)}")
        if not gripper_open_readout > 0.0:
            raise ValueError(f"gripper_open_readout must be positive, got {gripper_open_readout}")
        self.robot, self.arm, self.clock, self.open_arm = robot, arm, clock, open_arm
        self.readout_per_m = gripper_open_readout / robot.gripper.width_max_m

    def connect(self) -> None:
        if self.arm is None:
            if self.open_arm is None:
                raise RuntimeError("arx_r5 driver has neither an SDK arm nor a way to open one")
            self.arm = self.open_arm()

    def close(self) -> None:
        self.arm = None

    def read_joint_state(self) -> JointReading | None:
        if self.arm is None:
            return None
        raw = np.asarray(self.arm.get_joint_positions(), dtype=float)
        if raw.shape != (7,):
            raise ValueError(f"ARX SingleArm.get_joint_positions returned {raw.shape[0]} values, expected 7")
        positions = np.append(raw[:6], raw[6] / self.readout_per_m)
        return JointReading(self.robot.command_names, positions, self.clock())

    def send_setpoint(self, command: np.ndarray, period_s: float) -> None:
        if self.arm is None:
            raise RuntimeError("arx_r5 driver: send_setpoint before connect()")
        command = np.asarray(command, dtype=float)
        if command.shape != (7,) or not np.all(np.isfinite(command)):
            raise ValueError(f"arx_r5 setpoint must be 7 finite values, got {command}")
        self.arm.set_joint_positions(command[:6].tolist())
        self.command_gripper(float(command[6]), self.robot.gripper.force_max_n)

    def command_gripper(self, width_m: float, force_n: float) -> None:
        """The R5 gripper takes a position only; force is bounded by its motor current limit."""
        width_m = min(max(width_m, self.robot.gripper.width_min_m), self.robot.gripper.width_max_m)
        self.arm.set_catch_pos(width_m * self.readout_per_m)

    def home_gripper(self) -> None:
        """The R5 gripper's motor reading is absolute: nothing to calibrate."""

    def stop(self) -> None:
        """Hold where the arm is now (joint position hold at the measured state)."""
        if self.arm is None:
            return
        raw = np.asarray(self.arm.get_joint_positions(), dtype=float)
        self.arm.set_joint_positions(raw[:6].tolist())
