"""The safety filter: the last software between a setpoint and the motors.

`SafetyFilter.step` never returns a non-finite setpoint, nor one outside the position limits
(with margin), the velocity limit or the maximum step per period, nor one whose end effector
leaves the workspace box; it keeps acceleration and jerk within limits whenever the arm moves.
Whatever it is given (None, NaN, a wrong size, a wild jump), it returns what will really be
commanded and the reasons it changed anything.

How: per command value (arm joints, then the gripper opening) it intersects the velocity
intervals allowed by each limit for this period,
    hard:   |v| <= min(v_max, step_max / dt); position stays in [low, high]; and the arm can
            still brake to rest before the limit at a_max (v dt + v^2 / (2 a_max) <= room)
    smooth: |v - v0| <= a_max dt;  |v - v0 - a0 dt| <= j_max dt^2
    target: the same braking form with the chunk's own envelope (the lowest and highest target
            of the chunks being followed) in place of the joint limits: the command may approach
            a chunk's extreme target but never pass it (a follower that brakes only after the
            target overshoots by v^2 / (2 a_max))
and clips the requested velocity into it. The braking term keeps the intersection non-empty:
braking at a_max from a state that satisfied it satisfies it again. When a value's intersection
is empty all the same, the target envelope gives way first ("target envelope relaxed": a new
chunk, or expiring ones, put the range behind an arm moving outward; it then brakes within its
acceleration limit instead of stopping at once), then jerk ("jerk relaxed", only when
j_max dt < 2 a_max). A position outside the limits (an arm switched on there), or outside the
envelope, may only move back inwards. Two holds are deliberately abrupt:
a stop and a workspace-box hold repeat the last command exactly (velocity zero at once).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chatvla2.control.kinematics import KinematicChain
from chatvla2.control.robot import RobotSpec


RELAXED = {"jerk limit": "jerk relaxed", "target envelope": "target envelope relaxed",
           "acceleration limit": "acceleration relaxed"}


@dataclass(frozen=True)
class SafetyConfig:
    position_margin_rad: float = 0.05   # rad kept inside each joint limit
    velocity_scale: float = 1.0         # fraction of the manufacturer's joint velocity limits
    acceleration_scale: float = 1.0     # fraction of the acceleration (and jerk) limits
    max_step_rad: float = 0.05          # rad per control period, any arm joint

    def __post_init__(self) -> None:
        for name in ("velocity_scale", "acceleration_scale"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not self.max_step_rad > 0.0 or not self.position_margin_rad >= 0.0:
            raise ValueError("max_step_rad must be positive and position_margin_rad >= 0")


@dataclass(frozen=True)
class SafetyLimits:
    """Per command value (A,) = arm joints then gripper opening, margins and scales applied."""

    low: np.ndarray
    high: np.ndarray
    velocity_max: np.ndarray      # per second
    acceleration_max: np.ndarray  # per second^2 (inf for the gripper)
    jerk_max: np.ndarray          # per second^3 (inf for the gripper)
    step_max: np.ndarray          # per period
    period_s: float
    gripper_force_max_n: float
    chain: KinematicChain | None = None
    box_min_m: np.ndarray | None = None  # (3,)
    box_max_m: np.ndarray | None = None  # (3,)

    @classmethod
    def for_robot(cls, robot: RobotSpec, config: SafetyConfig, period_s: float) -> "SafetyLimits":
        if not period_s > 0.0:
            raise ValueError(f"control period must be positive, got {period_s}")
        if np.any(robot.position_max_rad - robot.position_min_rad <= 2 * config.position_margin_rad):
            raise ValueError(f"position_margin_rad {config.position_margin_rad} leaves no range "
                             f"for some joint of {robot.name}")
        gripper = robot.gripper
        return cls(
            low=np.append(robot.position_min_rad + config.position_margin_rad, gripper.width_min_m),
            high=np.append(robot.position_max_rad - config.position_margin_rad, gripper.width_max_m),
            velocity_max=np.append(robot.velocity_max_rad_s * config.velocity_scale, gripper.speed_max_m_s),
            acceleration_max=np.append(robot.acceleration_max_rad_s2 * config.acceleration_scale, np.inf),
            jerk_max=np.append(robot.jerk_max_rad_s3 * config.acceleration_scale, np.inf),
            step_max=np.append(np.full(len(robot.joint_names), config.max_step_rad),
                               gripper.speed_max_m_s * period_s),
            period_s=period_s, gripper_force_max_n=gripper.force_max_n, chain=robot.kinematics,
            box_min_m=robot.workspace_min_m, box_max_m=robot.workspace_max_m)

    @property
    def arm_joint_count(self) -> int:
        return self.low.shape[0] - 1

    def box_distance_m(self, positions: np.ndarray) -> np.ndarray:
        """(N, A) commands -> (N,) end-effector distance outside the workspace box (0 inside)."""
        if self.chain is None or self.box_min_m is None:
            return np.zeros(positions.shape[0])
        tool_m = self.chain.end_effector_positions(positions[:, : self.arm_joint_count])  # (N, 3)
        outside = np.maximum(self.box_min_m - tool_m, 0.0) + np.maximum(tool_m - self.box_max_m, 0.0)
        return np.linalg.norm(outside, axis=1)


def limit_gripper_force(force_n: float, force_max_n: float) -> float:
    """The grasp force to send: within [0, force_max_n] (the robot's gripper limit); a non-finite
    request raises ValueError."""
    if not np.isfinite(force_n):
        raise ValueError(f"gripper force must be finite, got {force_n}")
    return float(min(max(force_n, 0.0), force_max_n))


@dataclass
class FilterResult:
    command: np.ndarray  # (A,) what is commanded: arm joints then gripper opening
    interventions: list[str] = field(default_factory=list)


class SafetyFilter:
    """Holds the commanded motion state (position, velocity, acceleration) between periods."""

    def __init__(self, limits: SafetyLimits) -> None:
        self.limits = limits
        self.position: np.ndarray | None = None  # (A,) the last command
        self.velocity = np.zeros_like(limits.low)
        self.acceleration = np.zeros_like(limits.low)
        self.box_distance_m = 0.0  # of the last command's end effector outside the box

    def reset(self, position: np.ndarray) -> None:
        """Start from a measured position at rest."""
        self.position = np.asarray(position, dtype=float).copy()
        self.velocity = np.zeros_like(self.limits.low)
        self.acceleration = np.zeros_like(self.limits.low)
        self.box_distance_m = self.limits.box_distance_m(self.position[None])[0]

    def freeze(self, reason: str) -> FilterResult:
        """Repeat the last command exactly: velocity and acceleration zero from now on."""
        self.velocity = np.zeros_like(self.limits.low)
        self.acceleration = np.zeros_like(self.limits.low)
        return FilterResult(self.position.copy(), [reason])

    def step(self, target: np.ndarray | None,
             envelope: tuple[np.ndarray, np.ndarray] | None = None) -> FilterResult:
        """One period: move towards `target` (A,) as far as every limit allows; None brakes to rest.
        `envelope` (low (A,), high (A,)): the targets' range, which the command does not pass (also
        while braking to rest after the last chunk ended)."""
        if self.position is None:
            raise ValueError("safety filter has no state: reset() it with the measured position")
        reasons = []
        if target is not None and np.shape(target) != self.position.shape:
            reasons.append(f"wrong size: {np.size(target)} values for {self.position.size}")
            target = None
        elif target is not None and not np.all(np.isfinite(target)):
            reasons.append("non-finite target")
            target = None
        limits, p0, v0, a0 = self.limits, self.position, self.velocity, self.acceleration
        dt = limits.period_s
        with np.errstate(over="ignore"):  # a huge finite target becomes an infinite request: clipped
            wanted = np.zeros_like(p0) if target is None else (np.asarray(target, dtype=float) - p0) / dt
        low, high = np.minimum(limits.low, p0), np.maximum(limits.high, p0)  # outside: inwards only
        speed = np.minimum(limits.velocity_max, limits.step_max / dt)
        bounds = {
            "velocity limit": (-speed, speed),
            "position limit": stay_within(p0, low, high, limits.acceleration_max, dt),
            "acceleration limit": (v0 - limits.acceleration_max * dt, v0 + limits.acceleration_max * dt),
            "jerk limit": (v0 + (a0 - limits.jerk_max * dt) * dt, v0 + (a0 + limits.jerk_max * dt) * dt),
        }
        if envelope is not None:
            env_low, env_high = (np.asarray(edge, dtype=float) for edge in envelope)
            bounds["target envelope"] = stay_within(p0, np.minimum(env_low, p0), np.maximum(env_high, p0),
                                                    limits.acceleration_max, dt)
        # Per command value, relaxed in this order while its intersection is empty: the envelope
        # (a tracking goal), jerk, acceleration (the last is unreachable from a state this filter made).
        in_force = dict(bounds)
        for relaxed in ("target envelope", "jerk limit", "acceleration limit"):
            lower, upper = intersect(in_force)
            empty = lower > upper
            if not np.any(empty):
                break
            if relaxed in in_force:
                reasons.append(RELAXED[relaxed])
                lo, hi = in_force[relaxed]
                in_force[relaxed] = (np.where(empty, -np.inf, lo), np.where(empty, np.inf, hi))
        lower, upper = intersect(in_force)
        velocity = np.clip(wanted, lower, upper)
        reasons += [name for name, (lo, hi) in bounds.items()
                    if np.any((wanted < lo - 1e-12) | (wanted > hi + 1e-12))]
        command = np.clip(p0 + velocity * dt, low, high)  # rounding only: velocity already fits
        distance_m = limits.box_distance_m(command[None])[0]
        if distance_m > 0.0 and distance_m >= self.box_distance_m:
            frozen = self.freeze("workspace box")
            return FilterResult(frozen.command, reasons + frozen.interventions)
        self.box_distance_m = distance_m
        velocity = (command - p0) / dt
        self.acceleration = (velocity - v0) / dt
        self.velocity, self.position = velocity, command
        return FilterResult(command.copy(), reasons)


def intersect(bounds: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of the velocity intervals, per command value."""
    return (np.max([pair[0] for pair in bounds.values()], axis=0),
            np.min([pair[1] for pair in bounds.values()], axis=0))


def stay_within(p0: np.ndarray, low: np.ndarray, high: np.ndarray, acceleration_max: np.ndarray,
                dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Velocity bounds that keep the next position in [low, high] and the arm able to brake before
    either edge at `acceleration_max` (p0 must lie in [low, high])."""
    return (np.maximum((low - p0) / dt, -braking_speed(p0 - low, acceleration_max, dt)),
            np.minimum((high - p0) / dt, braking_speed(high - p0, acceleration_max, dt)))


def braking_speed(room: np.ndarray, acceleration_max: np.ndarray, dt: float) -> np.ndarray:
    """Largest v >= 0 with v dt + v^2 / (2 a) <= room: moving at it, the arm can still stop in time."""
    room = np.maximum(room, 0.0)
    finite = np.isfinite(acceleration_max)
    a = np.where(finite, acceleration_max, 1.0)
    speed = a * (np.sqrt(dt * dt + 2.0 * room / a) - dt)
    return np.where(finite, speed, np.inf)
