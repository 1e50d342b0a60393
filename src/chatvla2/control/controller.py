"""The arm controller's core: chunks in, one safe setpoint per control period out.

Holds position when there is no chunk, when the chunk is older than the timeout, when the joint
state is stale, and while a stop is latched. Counts every intervention by reason.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from chatvla2.control.chunk import ActionChunk, LatestChunkPlayer
from chatvla2.control.robot import RobotSpec
from chatvla2.control.safety import filter_setpoint


@dataclass(frozen=True)
class ControllerConfig:
    control_period_s: float = 0.01        # 100 Hz
    chunk_timeout_s: float = 0.5          # hold if no chunk newer than this
    joint_state_timeout_s: float = 0.2    # hold if the measured state is older than this
    position_margin_rad: float = 0.05


@dataclass
class ControlStep:
    command: np.ndarray | None  # (J + 1,) or None before the first joint state
    holding: bool
    reasons: list[str] = field(default_factory=list)


class ArmController:
    def __init__(self, robot: RobotSpec, config: ControllerConfig) -> None:
        self.robot, self.config = robot, config
        self.names = robot.command_names
        self.player = LatestChunkPlayer()
        self.measured: np.ndarray | None = None  # (J + 1,)
        self.measured_at_s = -np.inf
        self.last_command: np.ndarray | None = None
        self.last_chunk_at_s = -np.inf
        self.stopped = False
        self.interventions: Counter[str] = Counter()

    def on_joint_state(self, names: list[str], positions: np.ndarray, now_s: float) -> None:
        index = {name: i for i, name in enumerate(names)}
        if any(name not in index for name in self.names):
            self.interventions["joint state missing joints"] += 1
            return
        measured = np.asarray([positions[index[name]] for name in self.names], dtype=float)
        if not np.all(np.isfinite(measured)):
            self.interventions["non-finite joint state"] += 1
            return
        self.measured, self.measured_at_s = measured, now_s

    def on_chunk(self, chunk: ActionChunk, now_s: float) -> str | None:
        """Accept a chunk, reordering its columns to ours; returns the rejection reason, if any."""
        if set(chunk.joint_names) != set(self.names) or len(chunk.joint_names) != len(self.names):
            reason = f"chunk for joints {list(chunk.joint_names)}, expected {list(self.names)}"
        elif not np.all(np.isfinite(chunk.positions)):
            reason = "chunk has non-finite positions"
        else:
            order = [chunk.joint_names.index(name) for name in self.names]
            self.player.submit(ActionChunk(self.names, chunk.positions[:, order], chunk.step_dt_s, chunk.stamp_s))
            self.last_chunk_at_s = now_s
            return None
        self.interventions["rejected chunk"] += 1
        return reason

    def stop(self) -> None:
        self.stopped = True
        self.player.clear()

    def resume(self) -> None:
        self.stopped = False

    def tick(self, now_s: float) -> ControlStep:
        if self.measured is None:
            return ControlStep(None, True, ["no joint state yet"])
        previous = self.last_command if self.last_command is not None else self.measured
        reasons = []
        if self.stopped:
            reasons.append("stop latched")
        if now_s - self.measured_at_s > self.config.joint_state_timeout_s:
            reasons.append("joint state stale")
        if now_s - self.last_chunk_at_s > self.config.chunk_timeout_s:
            reasons.append("chunk timeout")
        target = None if reasons else self.player.setpoint(now_s)
        if target is None and not reasons:
            reasons.append("chunk used up")
        result = filter_setpoint(self.robot, target, previous, self.config.control_period_s,
                                 self.config.position_margin_rad)
        reasons += result.interventions
        self.interventions.update(reasons)
        self.last_command = result.command
        return ControlStep(result.command, target is None, reasons)
