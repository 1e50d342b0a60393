"""Follows a joint trajectory like a JointTrajectoryController: linear interpolation between the
points' times, holding the last point after the end and the current position before the start.

Plain Python core of the sim arm node; never returns a non-finite target.
"""
from __future__ import annotations

import numpy as np


class TrajectoryFollower:
    def __init__(self, hold_position: np.ndarray) -> None:
        self.times_s = np.array([0.0])
        self.points = np.asarray(hold_position, dtype=float)[None]  # (P, J)

    def set_trajectory(self, start_position: np.ndarray, start_s: float, times_from_start_s: np.ndarray,
                       points: np.ndarray) -> None:
        """Replace the trajectory: from start_position at start_s through points (P, J) at start_s + times."""
        points = np.asarray(points, dtype=float)
        times = np.asarray(times_from_start_s, dtype=float)
        if points.ndim != 2 or points.shape[0] != times.shape[0] or points.shape[1] != len(start_position):
            raise ValueError(f"trajectory points {points.shape} do not match {times.shape[0]} times and "
                             f"{len(start_position)} joints")
        if not np.all(np.isfinite(points)) or not np.all(np.isfinite(times)):
            raise ValueError("trajectory holds non-finite positions or times")
        if np.any(np.diff(times) <= 0) or times[0] < 0:
            raise ValueError("trajectory times_from_start must be non-negative and strictly increasing")
        self.times_s = np.concatenate([[start_s], start_s + times])
        self.points = np.vstack([np.asarray(start_position, dtype=float)[None], points])
        if times[0] == 0:  # a first point at t=0 replaces the current position
            self.times_s, self.points = self.times_s[1:], self.points[1:]

    def target(self, now_s: float) -> np.ndarray:
        """(J,) the joint target at time now_s."""
        return np.array([np.interp(now_s, self.times_s, self.points[:, j]) for j in range(self.points.shape[1])])
