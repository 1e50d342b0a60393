"""The one closed-loop episode every evaluator runs: a policy in the MuJoCo scene, its chunks
executed through the robot's own controller core (`ArmController`: the chunk gate, the executor
of `execution_mode`, the safety filter at 100 Hz), exactly as arm_controller_node runs them.

Chunk scheduling, in simulated time (control steps of 0.1 s, 10 controller periods each):

    step:      0        1        2   ...   q        q+1   ...
    policy:    obs_0 -> answer arrives after `delays()` steps (0: before step 0 executes)
    arm:       executes the chunk it has; the next observation is taken when the previous answer
               has arrived and at least `query_every_steps` steps have passed (8 by default: the
               first 8 rows of each chunk, the evaluation's historical schedule)

`eval`, `eval-table`, the delay table, DAgger and the recorders use this function; the ROS demo
trials run the same controller in its node and end by the same rule (`episode_over`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.controller import ArmController, ControllerConfig
from chatvla2.control.gate import GateConfig
from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.safety import SafetyConfig
from chatvla2.paths import config_dir
from chatvla2.policy.interface import Policy
from chatvla2.sim.env import TaskEnv
from chatvla2.sim.tasks import task_of

TICKS_PER_STEP = 10  # controller periods (10 ms) per simulator control step (0.1 s)
HOLDS = ("no chunk to play", "chunk timeout", "joint state stale", "no joint state yet")
# The parameter file whose arm_controller section the simulated evaluations run (the demo's).
EVALUATION_PARAMS = "sim_model.yaml"


def episode_over(scene, success: bool, reason: str) -> bool:
    """Success, or a failure with no way back in the scene's task (math: the wrong card lifted)."""
    return success or reason.startswith(task_of(scene).final_failures)


# arm_controller_node parameter -> ControllerConfig field; the dataclasses' defaults are the node's.
TOP_FIELDS = ("chunk_timeout_s", "joint_state_timeout_s", "execution_mode", "ensemble_decay", "handover_s",
              "actuation_latency_s", "resume_tolerance_rad")
GATE_FIELDS = tuple(GateConfig.__dataclass_fields__)
SAFETY_FIELDS = tuple(SafetyConfig.__dataclass_fields__)


def controller_config_from_params(path: str | Path | None = None, node: str = "arm_controller") -> ControllerConfig:
    """The ControllerConfig a ROS parameter file gives the arm controller node (its
    `/**/arm_controller` or `arm_controller` section), with the node's defaults elsewhere."""
    path = Path(path) if path is not None else config_dir() / EVALUATION_PARAMS
    sections = yaml.safe_load(path.read_text()) or {}
    values = sections.get(f"/**/{node}", sections.get(node, {})).get("ros__parameters", {})
    pick = lambda fields: {key: values[key] for key in fields if key in values}  # noqa: E731
    return ControllerConfig(control_period_s=1.0 / values.get("control_rate_hz", 100.0), **pick(TOP_FIELDS),
                            gate=GateConfig(**pick(GATE_FIELDS)), safety=SafetyConfig(**pick(SAFETY_FIELDS)))


@dataclass
class EpisodeResult:
    task: str
    seed: int
    split: str
    success: bool
    reason: str
    steps: int
    reasoning: str  # the policy's last reasoning text
    expected_reasoning: str
    answer_place: int | None = None  # math: the answer card's place, 0 = first from the left
    frames: list = field(default_factory=list)  # front images kept for a contact sheet / video
    rejections: int = 0  # chunks the gate refused
    interventions: Counter = field(default_factory=Counter)  # safety filter, holds and rejections excluded
    targets: np.ndarray | None = None   # (T, A) executor targets at 100 Hz (NaN while none), with trace
    commands: np.ndarray | None = None  # (T, A) filtered commands at 100 Hz, with trace
    switch_ticks: list[int] = field(default_factory=list)  # ticks at which a new chunk took over

    def switch_jump_rad(self) -> float:
        """Largest one-tick target change, any arm joint, at a switch."""
        jumps = [np.nanmax(np.abs(self.targets[t, :-1] - self.targets[t - 1, :-1]))
                 for t in self.switch_ticks if t >= 1 and np.all(np.isfinite(self.targets[t - 1: t + 1]))]
        return float(max(jumps, default=0.0))

    def switch_acceleration(self, dt_s: float = 0.01) -> float:
        """Largest target acceleration (rad/s^2), any arm joint, within a tick of a switch."""
        values = []
        for t in self.switch_ticks:
            window = self.targets[max(t - 2, 0): t + 2, :-1]
            if len(window) >= 3 and np.all(np.isfinite(window)):
                values.append(np.abs(np.diff(window, 2, axis=0)).max() / dt_s ** 2)
        return float(max(values, default=0.0))

    def command_jerk_rms(self, dt_s: float = 0.01) -> float:
        """RMS over ticks and arm joints of the command's third difference / dt^3 (rad/s^3)."""
        jerk = np.diff(self.commands[:, :-1], 3, axis=0) / dt_s ** 3
        return float(np.sqrt(np.mean(jerk ** 2))) if jerk.size else 0.0


def run_episode(env: TaskEnv, policy: Policy, task: str, seed: int, split: str,
                controller_config: ControllerConfig | None = None, delays: Callable[[], int] = lambda: 0,
                max_steps: int = 120, query_every_steps: int = 8, keep_frames_every: int = 0,
                before_step: Callable[[np.ndarray], None] | None = None, trace: bool = False) -> EpisodeResult:
    """`delays()` -> the control steps the next answer takes; `before_step(command)` sees every
    command just before the simulator executes it (a recorder); `trace` keeps the 100 Hz targets
    and commands (the delay table's smoothness figures)."""
    config = controller_config or controller_config_from_params()
    scene = env.reset(task, seed, split)
    policy.reset()
    controller = ArmController(env.robot, config)
    names = env.robot.command_names
    pending: list[tuple[int, ActionChunk]] = []  # (arrival step, chunk)
    next_query, rejections, reasoning = 0, 0, ""
    targets, commands, switch_ticks, frames = [], [], [], []
    success, reason = env.outcome()
    step = 0
    while step < max_steps and not episode_over(scene, success, reason):
        now_s = env.time_s
        controller.on_joint_state(list(names), env.qpos().astype(float), now_s)
        if step >= next_query and not pending:
            observation = env.observation()
            if keep_frames_every and step % keep_frames_every == 0:
                frames.append(observation.images["front"])
            output = policy.infer(observation)
            reasoning = output.reasoning
            rows = columns_by_name(output.joint_names, output.actions, names, "policy output")
            delay = int(delays())
            pending.append((step + delay, ActionChunk(names, rows, output.step_dt_s, observation.stamp_s)))
            next_query = step + max(delay, query_every_steps)
        for chunk in [chunk for at, chunk in pending if at <= step]:
            if controller.on_chunk(chunk, now_s) is None:
                switch_ticks.append(step * TICKS_PER_STEP)
            else:
                rejections += 1
        pending = [(at, chunk) for at, chunk in pending if at > step]
        for tick in range(1, TICKS_PER_STEP + 1):
            t = now_s + tick * config.control_period_s
            if trace:
                target = controller.executor.target(t)
                targets.append(np.full(len(names), np.nan) if target is None else np.asarray(target, float))
            result = controller.tick(t)
            command = result.command if result.command is not None else env.qpos().astype(float)
            if trace:
                commands.append(command)
        if before_step is not None:
            before_step(np.asarray(command, dtype=float))
        env.step(np.asarray(command, dtype=float))
        step += 1
        success, reason = env.outcome()
    if keep_frames_every:
        frames.append(env.render("front"))
    interventions = Counter({k: v for k, v in controller.interventions.items()
                             if k not in HOLDS and not k.startswith("rejected chunk")})
    return EpisodeResult(task=task, seed=seed, split=split, success=success, reason=reason, steps=step,
                         reasoning=reasoning, expected_reasoning=scene.reasoning,
                         answer_place=task_of(scene).answer_place(scene), frames=frames,
                         rejections=rejections, interventions=interventions,
                         targets=np.array(targets) if trace else None,
                         commands=np.array(commands) if trace else None, switch_ticks=switch_ticks)


def summarize(results: list[EpisodeResult]) -> dict:
    """Success rate, counts of each failure reason, and (math) successes per answer place:
    {place: (successes, episodes)}, where a habit (always the same place) cannot hide."""
    failures: dict[str, int] = {}
    by_place: dict[int, list[int]] = {}
    for result in results:
        if not result.success:
            failures[result.reason] = failures.get(result.reason, 0) + 1
        if result.answer_place is not None:
            tally = by_place.setdefault(result.answer_place, [0, 0])
            tally[0] += int(result.success)
            tally[1] += 1
    rate = sum(r.success for r in results) / max(1, len(results))
    return {"episodes": len(results), "success_rate": rate, "failures": failures,
            "by_answer_place": {place: tuple(by_place[place]) for place in sorted(by_place)}}
