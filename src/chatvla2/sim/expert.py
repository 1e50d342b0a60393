"""Scripted expert: plans a whole episode from the simulator's ground truth.

The plan is a list of TCP waypoints (top-down grasp, lift, and for placement a carry and release),
smoothly interpolated in Cartesian space and turned into joint targets by IK at every control step.
`ExpertPolicy` serves that plan through the `Policy` interface, 16-step chunks indexed by the
observation's stamp, so evaluation runs the expert exactly like a learned model.
"""
from __future__ import annotations

import numpy as np

from chatvla2.policy.interface import Observation, PolicyOutput
from chatvla2.sim.env import TaskEnv
from chatvla2.sim.ik import ArmIK
from chatvla2.sim.tasks import task_of

CLOSED_M = 0.0  # the fingers squeeze with the servo's spring force
IK_TOLERANCE_M = 0.005


def plan_expert_actions(env: TaskEnv, card_digit: int | None = None) -> np.ndarray:
    """(T, 8) absolute joint targets + gripper opening for the freshly reset `env` (math scenes:
    lifting the card showing `card_digit`, by default the answer)."""
    ik = ArmIK(env.model, env.robot.joint_names)
    q = env.qpos()[:7].astype(float)
    tcp, _ = ik.tcp_pose(q)
    width = float(env.qpos()[7])
    rows = []
    options = {} if card_digit is None else {"card_digit": card_digit}
    waypoints = task_of(env.scene).expert_waypoints(env, env.robot.gripper.width_max_m, CLOSED_M, **options)
    for target, target_width, steps in waypoints:
        start, start_width = tcp.copy(), width
        for k in range(1, steps + 1):
            s = 0.5 - 0.5 * np.cos(np.pi * k / steps)  # smooth start and stop
            q, error_m = ik.solve(q, start + s * (target - start))
            if error_m > IK_TOLERANCE_M:
                raise RuntimeError(f"expert IK missed a waypoint of seed {env.scene.seed} by {error_m:.3f} m")
            rows.append(np.append(q, start_width + s * (target_width - start_width)))
        tcp, width = np.asarray(target, dtype=float), target_width
    return np.asarray(rows, dtype=np.float32)


class ExpertPolicy:
    """The scripted expert behind the `Policy` interface; needs the environment's ground truth."""

    def __init__(self, env: TaskEnv, chunk_size: int = 16) -> None:
        self.env = env
        self.chunk_size = chunk_size
        self.plan = None

    def reset(self) -> None:
        self.plan = plan_expert_actions(self.env)

    def infer(self, observation: Observation) -> PolicyOutput:
        if self.plan is None:
            self.reset()
        step = int(round(observation.stamp_s / self.env.config.control_dt_s))
        rows = np.arange(step, step + self.chunk_size).clip(max=len(self.plan) - 1)
        return PolicyOutput(reasoning=self.env.scene.reasoning, joint_names=self.env.robot.command_names,
                            actions=self.plan[rows].astype(float), step_dt_s=self.env.config.control_dt_s)
