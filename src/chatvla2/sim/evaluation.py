"""Closed-loop evaluation of any `Policy` in the simulator.

Chunk scheduling: the policy sees observation t, answers a chunk of H targets; the first
`execute_steps` rows are executed (targets for t+1 .. t+execute_steps), then the policy is asked
again with the new observation. The episode ends on success or after `max_steps` control steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from chatvla2.control.joint_order import columns_by_name
from chatvla2.policy.interface import Policy
from chatvla2.sim.env import TaskEnv


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


def run_policy_episode(env: TaskEnv, policy: Policy, task: str, seed: int, split: str,
                       max_steps: int = 120, execute_steps: int = 8, keep_frames_every: int = 0,
                       before_step: Callable[[np.ndarray], None] | None = None) -> EpisodeResult:
    """`before_step(action)`, when given, sees every action just before the simulator executes it
    (a recorder: `chatvla2.data.recording.StepRecorder`)."""
    scene = env.reset(task, seed, split)
    policy.reset()
    reasoning, frames, step = "", [], 0
    success, reason = env.outcome()
    while step < max_steps and not success:
        observation = env.observation()
        if keep_frames_every and step % keep_frames_every == 0:
            frames.append(observation.images["front"])
        output = policy.infer(observation)
        reasoning = output.reasoning
        actions = columns_by_name(output.joint_names, output.actions, env.robot.command_names, "policy output")
        for action in actions[:execute_steps]:  # (<=N, 8)
            if before_step is not None:
                before_step(action)
            env.step(np.asarray(action, dtype=float))
            step += 1
            success, reason = env.outcome()
            if success or step >= max_steps:
                break
    if keep_frames_every:
        frames.append(env.render("front"))
    return EpisodeResult(task=task, seed=seed, split=split, success=success, reason=reason, steps=step,
                         reasoning=reasoning, expected_reasoning=scene.reasoning,
                         answer_place=scene.answer_place if task == "math" else None,
                         frames=frames)


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
