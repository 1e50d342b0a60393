"""Chunk execution under inference delay, in the MuJoCo scene, through the real controller core.

The closed loop a robot runs, in simulated time: the policy answers an observation after
`delay` control steps (0.1 s each), during which the arm keeps executing the chunk it has; the
answer then reaches `ArmController` (the chunk gate, the executor of `execution_mode`, the safety
filter at 100 Hz), exactly as in arm_controller_node. Inference runs back to back (the next
observation is taken when the previous answer arrives, at least every `query_every` steps).

Per episode it records the 100 Hz executor targets and filtered commands, and reports: success,
the largest target jump and acceleration at chunk switches (the discontinuities a Franka aborts
on), the command's RMS jerk, chunk-gate rejections and safety-filter interventions.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from chatvla2.control.chunk import ActionChunk
from chatvla2.control.controller import ArmController, ControllerConfig
from chatvla2.control.joint_order import columns_by_name
from chatvla2.sim.env import TaskEnv

TICKS_PER_STEP = 10  # controller periods (10 ms) per simulator control step (0.1 s)
HOLDS = ("no chunk to play", "chunk timeout", "joint state stale", "no joint state yet")


@dataclass
class DelayedEpisode:
    success: bool
    reason: str
    targets: np.ndarray  # (T, A) executor targets at 100 Hz (NaN while there is none)
    commands: np.ndarray  # (T, A) filtered commands at 100 Hz
    switch_ticks: list[int]  # ticks at which a newly accepted chunk took over
    rejections: int
    interventions: Counter = field(default_factory=Counter)  # safety filter, holds excluded

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


def run_delayed_episode(env: TaskEnv, policy, config: ControllerConfig, seed: int, split: str,
                        delays: "callable", max_steps: int = 120, query_every: int = 2) -> DelayedEpisode:
    """`delays()` -> the control steps the next answer takes (0 = before the next step)."""
    env.reset("math", seed, split)
    policy.reset()
    controller = ArmController(env.robot, config)
    names = env.robot.command_names
    pending: list[tuple[int, ActionChunk]] = []  # (arrival step, chunk)
    next_query, rejections = 0, 0
    targets, commands, switch_ticks = [], [], []
    success, reason = env.outcome()
    for step in range(max_steps):
        now_s = env.time_s
        controller.on_joint_state(list(names), env.qpos().astype(float), now_s)
        if step >= next_query and not pending:
            observation = env.observation()
            output = policy.infer(observation)
            rows = columns_by_name(output.joint_names, output.actions, names, "policy output")
            delay = int(delays())
            pending.append((step + delay, ActionChunk(names, rows, output.step_dt_s, observation.stamp_s)))
            next_query = step + max(delay, query_every)
        arrived = [chunk for at, chunk in pending if at <= step]
        pending = [(at, chunk) for at, chunk in pending if at > step]
        for chunk in arrived:
            if controller.on_chunk(chunk, now_s) is None:
                switch_ticks.append(len(targets))
            else:
                rejections += 1
        for tick in range(1, TICKS_PER_STEP + 1):
            t = now_s + tick * config.control_period_s
            target = controller.executor.target(t)
            targets.append(np.full(len(names), np.nan) if target is None else np.asarray(target, float))
            result = controller.tick(t)
            commands.append(result.command if result.command is not None else env.qpos().astype(float))
        env.step(np.asarray(commands[-1], dtype=float))
        success, reason = env.outcome()
        if success or reason.startswith("lifted wrong card"):
            break
    interventions = Counter({k: v for k, v in controller.interventions.items()
                             if k not in HOLDS and not k.startswith("rejected chunk")})
    return DelayedEpisode(success, reason, np.array(targets), np.array(commands), switch_ticks,
                          rejections, interventions)
