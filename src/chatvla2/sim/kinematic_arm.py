"""A kinematic arm: joints track their commanded positions at the robot's velocity limits.

The lightest stand-in for a real arm driver, used by the walking skeleton; the MuJoCo arm is the
physical one. Never moves a joint faster than its limit or outside its range.
"""
from __future__ import annotations

import numpy as np

from chatvla2.control.robot import RobotSpec


class KinematicArm:
    def __init__(self, robot: RobotSpec) -> None:
        self.robot = robot
        self.low = np.append(robot.position_min_rad, robot.gripper.width_min_m)
        self.high = np.append(robot.position_max_rad, robot.gripper.width_max_m)
        self.speed = np.append(robot.velocity_max_rad_s, 0.1)  # gripper: 0.1 m/s
        self.positions = robot.home_command.copy()  # (J + 1,)
        self.velocities = np.zeros_like(self.positions)
        self.target = self.positions.copy()

    def command(self, target: np.ndarray) -> None:
        if target.shape != self.positions.shape or not np.all(np.isfinite(target)):
            raise ValueError(f"arm command must be {self.positions.shape[0]} finite values")
        self.target = np.clip(target, self.low, self.high)

    def step(self, dt_s: float) -> None:
        max_move = self.speed * dt_s
        move = np.clip(self.target - self.positions, -max_move, max_move)
        self.positions = self.positions + move
        self.velocities = move / dt_s
