"""The chunk gate: rejects a whole action chunk before any blending, with a reason an operator
can act on. A chunk passes only if it names exactly the robot's joints, is finite, answers an
observation that is neither too old nor in the future, moves no joint faster than the
manufacturer's limit between its steps, and starts close to where the arm really is."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.joint_order import JointNamesMismatch, columns_by_name
from chatvla2.control.robot import RobotSpec


class ChunkRejected(ValueError):
    """`category` is the short intervention name counted on /diagnostics."""

    def __init__(self, category: str, message: str) -> None:
        super().__init__(message)
        self.category = category


@dataclass(frozen=True)
class GateConfig:
    max_observation_age_s: float = 1.0  # s between the observation and the chunk's arrival
    future_tolerance_s: float = 0.05    # s a stamp may lead our clock (clock skew)
    max_first_jump_rad: float = 0.3     # rad between the measured state and the chunk's first target


def reorder(chunk: ActionChunk, names: tuple[str, ...]) -> ActionChunk:
    """The chunk with columns in `names` order; ChunkRejected for unknown, missing or repeated names."""
    try:
        positions = columns_by_name(chunk.joint_names, chunk.positions, names, "chunk", exact=True)
    except JointNamesMismatch as error:
        raise ChunkRejected("joint names", f"chunk joint names do not match the robot: {error}") from None
    return ActionChunk(names, positions, chunk.step_dt_s, chunk.stamp_s)


def check_chunk(chunk: ActionChunk, robot: RobotSpec, config: GateConfig,
                measured: np.ndarray | None, now_s: float) -> ActionChunk:
    """Return the chunk reordered to robot.command_names, or raise ChunkRejected."""
    chunk = reorder(chunk, robot.command_names)
    if not np.all(np.isfinite(chunk.positions)) or not np.isfinite(chunk.stamp_s):
        raise ChunkRejected("non-finite", "chunk holds NaN or infinite values")
    age_s = now_s - chunk.stamp_s
    if age_s > config.max_observation_age_s:
        raise ChunkRejected("observation too old", f"chunk answers an observation {age_s:.3f} s old "
                            f"(limit {config.max_observation_age_s} s)")
    if -age_s > config.future_tolerance_s:
        raise ChunkRejected("stamped in the future", f"chunk stamped {-age_s:.3f} s in the future "
                            f"(tolerance {config.future_tolerance_s} s): clocks out of sync?")
    joints = len(robot.joint_names)
    arm = chunk.positions[:, :joints]  # (H, J)
    if measured is None:
        raise ChunkRejected("no joint state", "chunk arrived before any joint state")
    speeds = np.abs(np.diff(np.vstack([arm[:1], arm]), axis=0)) / chunk.step_dt_s  # (H, J)
    too_fast = speeds > robot.velocity_max_rad_s
    if np.any(too_fast):
        step, joint = np.argwhere(too_fast)[0]
        raise ChunkRejected("speed limit", f"chunk step {step} moves {robot.joint_names[joint]} at "
                            f"{speeds[step, joint]:.2f} rad/s (limit {robot.velocity_max_rad_s[joint]})")
    first = chunk.sample(now_s)
    if first is None:
        raise ChunkRejected("observation too old", "chunk ends before now")
    jump = np.abs(first[:joints] - measured[:joints])
    if np.max(jump) > config.max_first_jump_rad:
        joint = int(np.argmax(jump))
        raise ChunkRejected("jump from measured state", f"chunk starts {jump[joint]:.3f} rad from "
                            f"the measured {robot.joint_names[joint]} (limit {config.max_first_jump_rad} rad)")
    return chunk
