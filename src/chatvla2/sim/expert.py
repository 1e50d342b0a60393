"""Scripted expert: plans a whole episode from the simulator's ground truth.

The plan is a list of TCP waypoints (top-down grasp, lift, and for placement a carry and release),
smoothly interpolated in Cartesian space and turned into joint targets by IK at every control step.
`ExpertPolicy` serves that plan through the `Policy` interface, 16-step chunks indexed by the
observation's stamp, so evaluation runs the expert exactly like a learned model.
"""
from __future__ import annotations

import numpy as np

from chatvla2.policy.interface import Observation, PolicyOutput
from chatvla2.sim import scenes
from chatvla2.sim.env import TaskEnv
from chatvla2.sim.ik import ArmIK

HOVER_M = 0.1  # approach height above a grasp
CLOSED_M = 0.0  # the fingers squeeze with the servo's spring force
IK_TOLERANCE_M = 0.005


def _waypoints(env: TaskEnv, card_digit: int | None = None) -> list[tuple[np.ndarray, float, int]]:
    """(TCP target (3,), gripper opening m, control steps to get there) for each segment.
    A math scene's grasp goes to the card showing `card_digit` (default: the answer)."""
    open_m = env.robot.gripper.width_max_m
    scene = env.scene
    if isinstance(scene, scenes.MathScene):
        card = env.body_pos(f"card{scene.equation.result if card_digit is None else card_digit}")
        grasp = card + [0.0, 0.0, 0.012]
        above = grasp + [0.0, 0.0, HOVER_M]
        return [(above, open_m, 22), (grasp, open_m, 10), (grasp, CLOSED_M, 6),
                (grasp + [0.0, 0.0, 0.2], CLOSED_M, 14), (grasp + [0.0, 0.0, 0.2], CLOSED_M, 4)]
    toy = env.body_pos("toy")
    grasp = toy + [0.0, 0.0, 0.004]
    place = np.append(scene.target_xy_m, grasp[2] + 0.01)
    carry_z = [0.0, 0.0, HOVER_M + 0.04]
    return [(grasp + carry_z, open_m, 20), (grasp, open_m, 9), (grasp, CLOSED_M, 6),
            (grasp + carry_z, CLOSED_M, 10), (place + carry_z, CLOSED_M, 16), (place, CLOSED_M, 9),
            (place, open_m, 5), (place + carry_z, open_m, 9)]


def plan_expert_actions(env: TaskEnv, card_digit: int | None = None) -> np.ndarray:
    """(T, 8) absolute joint targets + gripper opening for the freshly reset `env` (math scenes:
    lifting the card showing `card_digit`, by default the answer)."""
    ik = ArmIK(env.model, env.robot.joint_names)
    q = env.qpos()[:7].astype(float)
    tcp, _ = ik.tcp_pose(q)
    width = float(env.qpos()[7])
    rows = []
    for target, target_width, steps in _waypoints(env, card_digit):
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
