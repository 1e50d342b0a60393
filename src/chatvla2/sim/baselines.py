"""Baseline policies for evaluation: the floors any learned model must beat.

- `RandomPolicy`: a random walk in joint space.
- `HabitPolicy`: lifts, with the expert's own motion, the card at the place where the answer lies
  most often in training (`habitual_place`): what a model that never reads the cards can reach,
  the baseline every math success rate is reported against.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache

import numpy as np

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.policy.interface import Observation, PolicyOutput
from chatvla2.sim import scenes
from chatvla2.sim.tasks import math_cards


class RandomPolicy:
    """Random walk in joint space from the measured state, random gripper; never leaves the limits."""

    def __init__(self, robot: RobotSpec, seed: int = 0, chunk_size: int = 16, step_dt_s: float = 0.1,
                 step_rad: float = 0.08) -> None:
        self.robot = robot
        self.seed = seed
        self.chunk_size = chunk_size
        self.step_dt_s = step_dt_s
        self.step_rad = step_rad
        self.low = np.append(robot.position_min_rad, robot.gripper.width_min_m)
        self.high = np.append(robot.position_max_rad, robot.gripper.width_max_m)
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def infer(self, observation: Observation) -> PolicyOutput:
        start = columns_by_name(observation.joint_names, observation.joint_positions, self.robot.command_names,
                                "observation")
        steps = self.rng.normal(0.0, self.step_rad, (self.chunk_size, start.size))  # (H, 8)
        actions = np.clip(start + np.cumsum(steps, axis=0), self.low, self.high)
        actions[:, -1] = self.rng.choice([self.robot.gripper.width_min_m, self.robot.gripper.width_max_m])
        return PolicyOutput(reasoning="", joint_names=self.robot.command_names, actions=actions,
                            step_dt_s=self.step_dt_s)


@lru_cache(maxsize=None)
def answer_place_counts(split: str = "train", seeds: int = 4000) -> tuple[int, ...]:
    """How often the answer card is the 1st, 2nd, 3rd... card from the left over `seeds` scenes."""
    counts = Counter(scene.cards.index(scene.answer_card)
                     for scene in (math_cards.sample_math_scene(seed, split) for seed in range(seeds)))
    return tuple(counts.get(place, 0) for place in range(math_cards.CARD_COUNT))


def habitual_place(split: str = "train") -> int:
    """The place (0 = first from the left) where the training answer lies most often."""
    return int(np.argmax(answer_place_counts(split)))


class HabitPolicy:
    """Always lifts the card at one place (default: the habitual training place), with the
    expert's planner; needs the environment's ground truth only to find that card."""

    def __init__(self, env, place: int | None = None, chunk_size: int = 16) -> None:
        from chatvla2.sim.expert import ExpertPolicy

        self.place = habitual_place() if place is None else place
        self.env = env
        self.expert = ExpertPolicy(env, chunk_size)

    def reset(self) -> None:
        from chatvla2.sim.expert import plan_expert_actions

        scene = self.env.scene
        if scene.task != math_cards.TASK.name:
            raise ValueError("the habit baseline plays math scenes only")
        self.expert.plan = plan_expert_actions(self.env, scene.cards[self.place].digit)

    def infer(self, observation: Observation) -> PolicyOutput:
        if self.expert.plan is None:
            self.reset()
        output = self.expert.infer(observation)
        scene = self.env.scene
        reasoning = (f"habit: the card {scene.cards[self.place].digit} is "
                     f"{scenes.ORDINALS[self.place]} from the left")
        return PolicyOutput(reasoning, output.joint_names, output.actions, output.step_dt_s)
