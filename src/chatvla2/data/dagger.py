"""DAgger episodes: a learned policy drives, the scripted expert takes over and shows the way back.

Behaviour cloning only ever sees the expert's own states; a policy that drifts (the arm hovering
between two cards, the gripper closed on nothing) meets states nobody labelled. Here the policy
runs the scene closed loop with the evaluators' one loop (`sim.episode.run_episode`, through the
controller core) until the
hand-over step, drawn by the seed from `HANDOVER_STEPS`; the expert then plans from wherever the arm
is (`plan_expert_actions` starts from the current joints and gripper) and finishes the episode.
The file keeps the whole run: the policy's rows are a true record (the commands the controller
executed, in /action) and
`first_labelled_step` says where the expert's labels begin, so training learns only the recovery.
An episode whose policy already succeeded before the hand-over holds nothing to correct and is not
written; `success` is the expert's outcome from the hand-over state (stage 2 uses successful ones).
"""
from __future__ import annotations

import numpy as np

from chatvla2.data.episodes import Episode

HANDOVER_STEPS = tuple(range(8, 65, 8))  # control steps of the policy before the expert takes over


def handover_step(seed: int, steps: tuple[int, ...] = HANDOVER_STEPS) -> int:
    """The hand-over step of a scene: one of `steps`, drawn by its seed."""
    if not steps or min(steps) < 1:
        raise ValueError(f"hand-over steps must be positive control steps, got {list(steps)}")
    return int(np.random.default_rng([seed, 11]).choice(steps))


def record_dagger_episode(env, policy, task: str, seed: int, split: str, handover: int,
                          execute_steps: int = 8) -> Episode | None:
    """Run `policy` for `handover` control steps, then the expert from that state; None when the
    policy succeeded first (nothing to correct) or the expert cannot plan from where it stopped."""
    from chatvla2.sim.appearance import refuse_open_world_for_training

    refuse_open_world_for_training(split)
    from chatvla2.data.recording import StepRecorder
    from chatvla2.sim.episode import run_episode
    from chatvla2.sim.expert import plan_expert_actions

    if handover < 1:
        raise ValueError(f"the hand-over step must be at least 1, got {handover}")
    recorder = StepRecorder(env)
    driven = run_episode(env, policy, task, seed, split, max_steps=handover, query_every_steps=execute_steps,
                         before_step=recorder.record)
    if driven.success:
        return None
    try:
        plan = plan_expert_actions(env)  # (T, 8) from the current joints and gripper opening
    except RuntimeError:
        return None
    for action in plan:
        recorder.record(action)
        env.step(action)
    scene = env.scene
    return Episode(task=task, instruction=scene.instruction, reasoning=scene.reasoning,
                   success=env.outcome()[0], seed=seed, split=split, control_dt_s=env.config.control_dt_s,
                   joint_names=env.robot.command_names, first_labelled_step=handover, **recorder.arrays())
