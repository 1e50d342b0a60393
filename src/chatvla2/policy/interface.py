"""The one inference interface every caller uses: `Policy.infer(observation) -> PolicyOutput`.

Chunking, recording and timing are wrappers around this interface, never flags inside it.
Plain types only (NumPy arrays, dataclasses): no ROS messages cross this boundary.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Observation:
    """What the robot sees and feels at one instant.

    images: camera name -> (H, W, 3) uint8 RGB frame.
    joint_positions: (J,) radians (gripper entries in metres of opening), ordered as joint_names.
    stamp_s: time the observation was taken, seconds (ROS time of the newest frame).
    """

    images: dict[str, np.ndarray]
    joint_names: tuple[str, ...]
    joint_positions: np.ndarray
    instruction: str
    stamp_s: float

    def __post_init__(self) -> None:
        if self.joint_positions.shape != (len(self.joint_names),):
            raise ValueError(
                f"joint_positions has shape {self.joint_positions.shape}, "
                f"expected ({len(self.joint_names)},) for joints {self.joint_names}"
            )
        for name, image in self.images.items():
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(
                    f"camera '{name}' image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}"
                )


@dataclass(frozen=True)
class PolicyOutput:
    """The policy's answer to one observation.

    actions: (H, A) absolute joint targets, one row per step, `step_dt_s` apart, columns ordered as
    `joint_names`. Row 0 is the target for `stamp_s + step_dt_s` where stamp_s is the observation's.
    """

    reasoning: str
    joint_names: tuple[str, ...]
    actions: np.ndarray
    step_dt_s: float
    info: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.actions.ndim != 2 or self.actions.shape[1] != len(self.joint_names):
            raise ValueError(
                f"actions must be (H, {len(self.joint_names)}), got {self.actions.shape}"
            )
        if self.step_dt_s <= 0.0:
            raise ValueError(f"step_dt_s must be positive, got {self.step_dt_s}")


@runtime_checkable
class Policy(Protocol):
    """Anything that answers observations with reasoning and an action chunk."""

    def infer(self, observation: Observation) -> PolicyOutput: ...

    def reset(self) -> None: ...
