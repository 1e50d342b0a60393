"""The arm controller's core: chunks in, one safe setpoint per control period out.

Every period the target comes from the chunk executor (or nothing) and passes the safety filter.
The arm holds (brakes to rest within the limits) when there is no chunk, when no chunk arrived
within `chunk_timeout_s`, when the joint state is older than `joint_state_timeout_s`, when the
operator's heartbeat (a deadman, optional) is older than `heartbeat_timeout_s`; a stop
freezes the command on the next period and latches until a resume, which is refused unless the
arm is in a safe state. Actuation starts disabled on real robots (dry-run) until `enable()`.
Every intervention is counted by reason. Plain Python: the ROS node is a thin shell around it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from chatvla2.control.chunk import EXECUTION_MODES, ActionChunk, make_executor
from chatvla2.control.gate import ChunkRejected, GateConfig, check_chunk
from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.control.safety import SafetyConfig, SafetyFilter, SafetyLimits


@dataclass(frozen=True)
class ControllerConfig:
    control_period_s: float = 0.01        # 100 Hz
    chunk_timeout_s: float = 0.5          # s: hold if no chunk arrived for this long
    joint_state_timeout_s: float = 0.2    # s: hold if the measured state is older than this
    execution_mode: str = "latest"        # latest | ensemble | handover | rtc
    ensemble_decay: float = 0.01          # ACT's k: weight exp(-k i), i = 0 for the oldest chunk
    handover_s: float = 0.2               # s of cross-fade in handover mode
    actuation_latency_s: float = 0.0      # s: command the target due this much later
    resume_tolerance_rad: float = 0.05    # rad: measured vs held command for resume / enable
    dry_run: bool = False                 # start with actuation disabled
    heartbeat_timeout_s: float = 0.0      # s: hold when no operator heartbeat for this long (0: off)
    gate: GateConfig = GateConfig()
    safety: SafetyConfig = SafetyConfig()

    def __post_init__(self) -> None:
        if self.execution_mode not in EXECUTION_MODES:
            raise ValueError(f"execution_mode '{self.execution_mode}' is not one of {EXECUTION_MODES}")
        if not self.control_period_s > 0.0:
            raise ValueError(f"control_period_s must be positive, got {self.control_period_s}")
        if not self.heartbeat_timeout_s >= 0.0:
            raise ValueError(f"heartbeat_timeout_s must be >= 0 (0 disables it), got {self.heartbeat_timeout_s}")
        if not self.chunk_timeout_s > 0.0:
            raise ValueError(f"chunk_timeout_s must be positive, got {self.chunk_timeout_s}")


@dataclass
class ControlStep:
    command: np.ndarray | None  # (J + 1,) or None before the first joint state
    holding: bool               # True when not following a chunk this period
    reasons: list[str] = field(default_factory=list)


class ArmController:
    def __init__(self, robot: RobotSpec, config: ControllerConfig = ControllerConfig()) -> None:
        self.robot, self.config = robot, config
        self.names = robot.command_names
        self.limits = SafetyLimits.for_robot(robot, config.safety, config.control_period_s)
        self.filter = SafetyFilter(self.limits)
        self.executor = make_executor(config.execution_mode, config.ensemble_decay, config.handover_s)
        self.measured: np.ndarray | None = None  # (J + 1,)
        self.measured_at_s = -np.inf
        self.last_chunk_at_s = -np.inf
        self.chunks_not_before_s = -np.inf  # chunks answering older observations are refused
        self.stopped = False
        self.heartbeat_at_s = -np.inf  # the operator's deadman (config.heartbeat_timeout_s)
        self.actuation_enabled = not config.dry_run
        self.interventions: Counter[str] = Counter()
        self.last_rejection: ChunkRejected | None = None
        self.envelope: tuple[np.ndarray, np.ndarray] | None = None  # range of the targets followed last

    def on_heartbeat(self, now_s: float) -> None:
        """The operator's deadman is held: with heartbeat_timeout_s > 0, motion needs one recently."""
        self.heartbeat_at_s = now_s

    def retune(self, safety: SafetyConfig, chunk_timeout_s: float) -> None:
        """New safety scales and watchdog timeout from the next tick; the filter keeps its state
        (position, velocity), so a lower speed limit brakes within the acceleration limit."""
        limits = SafetyLimits.for_robot(self.robot, safety, self.config.control_period_s)
        config = replace(self.config, safety=safety, chunk_timeout_s=chunk_timeout_s)  # validates
        self.limits, self.filter.limits, self.config = limits, limits, config

    @property
    def last_command(self) -> np.ndarray | None:
        return self.filter.position

    def on_joint_state(self, names: list[str], positions: np.ndarray, now_s: float) -> str | None:
        """Take a measured joint state; returns why it was refused, if it was."""
        try:
            measured = columns_by_name(names, np.asarray(positions, dtype=float), self.names, "joint state")
        except ValueError as error:  # JointNamesMismatch included
            self.interventions["joint state malformed"] += 1
            return str(error)
        if not np.all(np.isfinite(measured)):
            self.interventions["joint state non-finite"] += 1
            return "joint state holds NaN or infinite positions"
        self.measured, self.measured_at_s = measured, now_s
        return None

    def on_chunk(self, chunk: ActionChunk, now_s: float) -> str | None:
        """Gate a chunk and hand it to the executor; returns the rejection reason, if any."""
        try:
            if self.stopped:
                raise ChunkRejected("stop latched", "chunk ignored: stop latched until resume")
            accepted = check_chunk(chunk, self.robot, self.config.gate, self.measured, now_s)
            if chunk.stamp_s < self.chunks_not_before_s:
                raise ChunkRejected("older than resume", "chunk answers an observation from before the resume "
                                    "(or the enable)")
        except ChunkRejected as rejection:
            self.interventions[f"rejected chunk: {rejection.category}"] += 1
            self.last_rejection = rejection
            return str(rejection)
        self.executor.submit(accepted, now_s)
        self.last_chunk_at_s = now_s
        return None

    def stop(self) -> None:
        """Freeze on the next period; latches until resume()."""
        self.stopped = True
        self.executor.clear()
        self.envelope = None

    def safe_state_problem(self, now_s: float, check_settled: bool = True) -> str | None:
        """Why the arm is not in a state to resume or enable from, or None when it is.
        check_settled: the arm must be at the command it was last sent (not when it was sent
        nothing: in dry run the would-be command runs ahead of an arm that never follows it)."""
        if self.measured is None or now_s - self.measured_at_s > self.config.joint_state_timeout_s:
            return "no fresh joint state"
        arm = slice(0, len(self.robot.joint_names))
        outside = (self.measured[arm] < self.limits.low[arm]) | (self.measured[arm] > self.limits.high[arm])
        if np.any(outside):
            return f"joints {[self.names[i] for i in np.flatnonzero(outside)]} outside their limits"
        if self.limits.box_distance_m(self.measured[None])[0] > 0.0:
            return "end effector outside the workspace box"
        if check_settled and self.last_command is not None:
            lag = np.max(np.abs(self.measured[arm] - self.last_command[arm]))
            if lag > self.config.resume_tolerance_rad:
                return f"arm not settled: {lag:.3f} rad from the held command"
        return None

    def resume(self, now_s: float) -> str | None:
        """Release a stop; returns why it was refused, if it was. Old chunks are not replayed.
        Without a stop there is nothing to release: the chunk being played keeps playing."""
        if not self.stopped:
            return None
        problem = self.safe_state_problem(now_s)
        if problem is not None:
            self.interventions["resume refused"] += 1
            return problem
        self.stopped = False
        self.executor.clear()
        self.envelope = None
        self.chunks_not_before_s = now_s
        return None

    def enable(self, now_s: float) -> str | None:
        """Leave dry-run: from now on the commands go to the arm. Refused unless in a safe state.
        The arm starts from where it is, with the next chunk that answers an observation made
        from now on (the chunk being played in dry run ran ahead of the still arm)."""
        if self.actuation_enabled:
            return None
        problem = self.safe_state_problem(now_s, check_settled=False)
        if problem is None and self.stopped:
            problem = "stop latched: resume first"
        if problem is not None:
            self.interventions["enable refused"] += 1
            return problem
        self.actuation_enabled = True
        if self.measured is not None:
            self.filter.reset(self.measured)  # start moving from where the arm really is
        self.executor.clear()
        self.envelope = None
        self.chunks_not_before_s = now_s
        return None

    def disable(self) -> None:
        """Back to dry run: commands are computed and reported, none goes to the arm."""
        self.actuation_enabled = False

    def tick(self, now_s: float) -> ControlStep:
        if self.measured is None:
            self.interventions["no joint state yet"] += 1
            return ControlStep(None, True, ["no joint state yet"])
        if self.filter.position is None:
            self.filter.reset(self.measured)
        if self.stopped:
            result = self.filter.freeze("stop latched")
            self.interventions.update(result.interventions)
            return ControlStep(result.command, True, result.interventions)
        reasons = []
        if now_s - self.measured_at_s > self.config.joint_state_timeout_s:
            reasons.append("joint state stale")
        if now_s - self.last_chunk_at_s > self.config.chunk_timeout_s:
            reasons.append("chunk timeout")
        if self.config.heartbeat_timeout_s > 0 and now_s - self.heartbeat_at_s > self.config.heartbeat_timeout_s:
            reasons.append("heartbeat lost")
        target = None if reasons else self.executor.target(now_s + self.config.actuation_latency_s)
        if target is None and not reasons:
            reasons.append("no chunk to play")
        if target is not None:
            self.envelope = self.executor.envelope(now_s + self.config.actuation_latency_s)
        # Braking to rest after the last chunk stays inside that chunk's range too.
        result = self.filter.step(target, self.envelope)
        reasons += result.interventions
        self.interventions.update(reasons)
        return ControlStep(result.command, target is None, reasons)
