"""An auditor, independent of the filter's code, that restates every limit and counts violations."""
from __future__ import annotations

import numpy as np
import pytest

from chatvla2.control.safety import SafetyLimits

TOLERANCE = 1e-9


class LimitAuditor:
    """Feed it every command in order; it keeps its own velocity/acceleration history."""

    def __init__(self, limits: SafetyLimits, start: np.ndarray) -> None:
        self.limits = limits
        self.position = np.asarray(start, dtype=float).copy()
        self.velocity = np.zeros_like(self.position)
        self.acceleration = np.zeros_like(self.position)
        self.violations: list[str] = []
        self.box_distance_m = limits.box_distance_m(self.position[None])[0]

    def check(self, command: np.ndarray, frozen: bool = False) -> list[str]:
        lim, p0, dt = self.limits, self.position, self.limits.period_s
        found = []
        if command.shape != p0.shape or not np.all(np.isfinite(command)):
            found.append("non-finite or wrong size")
            self.violations += found
            return found
        low, high = np.minimum(lim.low, p0), np.maximum(lim.high, p0)
        tol = TOLERANCE * (1.0 + np.abs(p0))
        if np.any(command < low - tol) or np.any(command > high + tol):
            found.append("position")
        step = np.abs(command - p0)
        if np.any(step > lim.step_max + tol) or np.any(step > lim.velocity_max * dt + tol):
            found.append("velocity/step")
        velocity = (command - p0) / dt
        acceleration = (velocity - self.velocity) / dt
        if frozen:
            if not np.array_equal(command, p0):
                found.append("freeze moved")
            velocity, acceleration = np.zeros_like(p0), np.zeros_like(p0)
        else:
            slack = 1e-6 * (1.0 + np.abs(acceleration))
            if np.any(np.abs(acceleration) > lim.acceleration_max + slack):
                found.append("acceleration")
            jerk = (acceleration - self.acceleration) / dt
            if np.any(np.abs(jerk) > lim.jerk_max + 1e-6 * (1.0 + np.abs(jerk))):
                found.append("jerk")
        distance_m = lim.box_distance_m(command[None])[0]
        if distance_m > self.box_distance_m + 1e-12:
            found.append("workspace box")
        self.box_distance_m = distance_m
        self.position, self.velocity, self.acceleration = command.copy(), velocity, acceleration
        self.violations += found
        return found


@pytest.fixture(scope="session")
def auditor_factory():  # a class, stateless: safe to share across hypothesis examples
    return LimitAuditor
