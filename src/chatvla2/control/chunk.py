"""Action chunks and the simplest way to execute them: play the latest chunk by elapsed time.

    chunk stamped at t_obs (the observation it answers), rows step_dt_s apart:
        row k is the target for time t_obs + (k + 1) * step_dt_s
    at control time `now`, the player commands the next upcoming row,
    k = floor((now - t_obs) / step_dt_s), skipping rows already in the past (latency compensation); past the last row it has nothing
    to say and the controller holds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ActionChunk:
    """positions: (H, A) targets ordered as joint_names; stamp_s: time of the observation answered."""

    joint_names: tuple[str, ...]
    positions: np.ndarray
    step_dt_s: float
    stamp_s: float

    def __post_init__(self) -> None:
        if self.positions.ndim != 2 or self.positions.shape[1] != len(self.joint_names):
            raise ValueError(
                f"chunk positions must be (H, {len(self.joint_names)}), got {self.positions.shape}"
            )
        if not self.step_dt_s > 0.0:
            raise ValueError(f"chunk step_dt_s must be positive, got {self.step_dt_s}")

    @property
    def horizon(self) -> int:
        return self.positions.shape[0]

    def row_at(self, now_s: float) -> int | None:
        """Index of the row to command at now_s, or None when the chunk is used up."""
        index = max(0, math.floor((now_s - self.stamp_s) / self.step_dt_s))
        return index if index < self.horizon else None


class LatestChunkPlayer:
    """Plays the most recent chunk; a newer chunk replaces the old one at once."""

    def __init__(self) -> None:
        self.chunk: ActionChunk | None = None

    def submit(self, chunk: ActionChunk) -> None:
        if self.chunk is None or chunk.stamp_s >= self.chunk.stamp_s:
            self.chunk = chunk

    def setpoint(self, now_s: float) -> np.ndarray | None:
        """(A,) target for now_s, or None when there is nothing to play (the caller holds)."""
        if self.chunk is None:
            return None
        row = self.chunk.row_at(now_s)
        return None if row is None else self.chunk.positions[row]

    def clear(self) -> None:
        self.chunk = None
