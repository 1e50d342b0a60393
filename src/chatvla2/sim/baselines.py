"""Baseline policies for evaluation: a random policy, the floor any learned model must beat."""
from __future__ import annotations

import numpy as np

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.policy.interface import Observation, PolicyOutput


class RandomPolicy:
    """Random walk in joint space from the measured state, random gripper; never leaves the limits."""

    def __init__(self, robot: RobotSpec, seed: int = 0, chunk_size: int = 16, step_dt_s: float = 0.1,
                 step_rad: float = 0.08) -> None:
        self.robot = robot
        self.seed = seed
        self.chunk_size = chunk_size
        self.step_dt_s = step_dt_s
        self.step_rad = step_rad
        self.low = np.append(robot.position_min_rad, robot.gripper.width_min_m)
        self.high = np.append(robot.position_max_rad, robot.gripper.width_max_m)
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def infer(self, observation: Observation) -> PolicyOutput:
        start = columns_by_name(observation.joint_names, observation.joint_positions, self.robot.command_names,
                                "observation")
        steps = self.rng.normal(0.0, self.step_rad, (self.chunk_size, start.size))  # (H, 8)
        actions = np.clip(start + np.cumsum(steps, axis=0), self.low, self.high)
        actions[:, -1] = self.rng.choice([self.robot.gripper.width_min_m, self.robot.gripper.width_max_m])
        return PolicyOutput(reasoning="", joint_names=self.robot.command_names, actions=actions,
                            step_dt_s=self.step_dt_s)
