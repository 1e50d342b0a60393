"""The safety filter: the last software between a setpoint and the motors.

`filter_setpoint` never returns a non-finite or out-of-limit setpoint: whatever it is given, it
returns what will really be commanded, and the reasons it changed anything.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chatvla2.control.robot import RobotSpec


@dataclass
class FilterResult:
    command: np.ndarray  # (J + 1,) what is commanded: arm joints then gripper opening
    interventions: list[str] = field(default_factory=list)


def command_bounds(robot: RobotSpec, position_margin_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """(J + 1,) lower and upper bounds of a command, margins applied to the arm joints."""
    low = np.append(robot.position_min_rad + position_margin_rad, robot.gripper.width_min_m)
    high = np.append(robot.position_max_rad - position_margin_rad, robot.gripper.width_max_m)
    return low, high


def filter_setpoint(
    robot: RobotSpec,
    target: np.ndarray | None,
    previous: np.ndarray,
    period_s: float,
    position_margin_rad: float = 0.05,
) -> FilterResult:
    """Clamp `target` (J + 1,) to position limits and to the velocity reachable in one period.

    `previous` is the last command sent (or the measured state); a missing or non-finite target
    holds `previous`.
    """
    low, high = command_bounds(robot, position_margin_rad)
    hold = np.clip(previous, low, high)
    if target is None:
        return FilterResult(hold, [])
    if target.shape != previous.shape:
        return FilterResult(hold, [f"wrong size: {target.shape[0]} values for {previous.shape[0]}"])
    if not np.all(np.isfinite(target)):
        return FilterResult(hold, ["non-finite target"])
    interventions = []
    clamped = np.clip(target, low, high)
    if not np.array_equal(clamped, target):
        interventions.append("position limit")
    max_step = np.append(robot.velocity_max_rad_s * period_s, np.inf)
    stepped = np.clip(clamped, hold - max_step, hold + max_step)
    if not np.array_equal(stepped, clamped):
        interventions.append("velocity limit")
    return FilterResult(stepped, interventions)
