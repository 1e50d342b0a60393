"""An honest placeholder policy: no model, a transparent rule, and reasoning that says so.

It looks at the mean brightness of the first camera and sways the first joint around the robot's
home pose by an amount proportional to it, turning back every `chunks_per_sway` chunks. It exists so the ROS
skeleton can run end to end before a trained model is available; it solves no task.
"""
from __future__ import annotations

import numpy as np

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.policy.interface import Observation, PolicyOutput


class PlaceholderPolicy:
    def __init__(self, robot: RobotSpec, horizon: int = 16, step_dt_s: float = 0.1,
                 sway_rad: float = 0.2, chunks_per_sway: int = 10) -> None:
        self.robot, self.horizon, self.step_dt_s, self.sway_rad = robot, horizon, step_dt_s, sway_rad
        self.chunks_per_sway = chunks_per_sway
        self.chunks_served = 0

    def reset(self) -> None:
        self.chunks_served = 0

    def infer(self, observation: Observation) -> PolicyOutput:
        names = self.robot.command_names
        current = columns_by_name(observation.joint_names, observation.joint_positions, names, "observation")  # (A,)
        camera, image = next(iter(observation.images.items()))
        brightness = float(image.mean()) / 255.0
        direction = 1.0 if (self.chunks_served // self.chunks_per_sway) % 2 == 0 else -1.0
        goal = self.robot.home_command.copy()
        goal[0] += direction * self.sway_rad * brightness
        fractions = np.linspace(1.0 / self.horizon, 1.0, self.horizon)[:, None]  # (H, 1)
        actions = current[None, :] + fractions * (goal - current)[None, :]  # (H, A)
        self.chunks_served += 1
        reasoning = (
            f"placeholder policy, no model loaded: camera '{camera}' brightness {brightness:.2f}, "
            f"so I sway {names[0]} to {goal[0]:+.3f} rad"
        )
        return PolicyOutput(reasoning=reasoning, joint_names=names, actions=actions,
                            step_dt_s=self.step_dt_s)
