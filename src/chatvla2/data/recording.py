"""Record expert demonstrations from the simulator into `Episode`s, in parallel worker processes.

Math episodes lift the answer card by default. A named-card episode (`lift="any-card"`) lifts one of
the scene's three cards drawn by its seed, the answer or not, and its reasoning annotation names that
card in its last clause ("...; the card 5 is third from the left"): head-training data in which the
observation does not tell which card to lift and only the reasoning does (stage 2; stage 1 refuses
it, since the language model would learn to name a card that is not the answer). Its `success`
means the named card, and only it, was lifted. `lift="rightmost-card"` names the card in the
rightmost slot, the slot that never holds a training answer (the card-swap split puts the answer
there): the only data in which the arm reaches that slot with a reasoning naming the card.
A DAgger job (`dagger_policy`: a model directory) lets that policy drive until a hand-over step
drawn by the seed, then the expert (`chatvla2.data.dagger`); each worker process loads the policy
once, at one torch thread.
"""
from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from chatvla2.data.episodes import Episode, write_episode


@dataclass(frozen=True)
class EpisodeJob:
    task: str
    seed: int
    split: str
    out_dir: Path
    image_size_px: int = 224
    question_answers: bool = False  # an image-text QA file instead of an episode
    lift: str = "answer"  # math: "answer" | "any-card" | "rightmost-card" (named-card episodes)
    dagger_policy: str | None = None  # a model directory: a DAgger episode (policy, then the expert)
    handover_steps: tuple[int, ...] = ()  # DAgger: the seed draws the hand-over among these (() = default)

    @property
    def path(self) -> Path:
        prefix = ("qa_" if self.question_answers else "named_" if self.lift != "answer"
                  else "dagger_" if self.dagger_policy else "")
        return self.out_dir / f"{prefix}{self.task}_{self.split}_{self.seed:06d}.hdf5"


LIFTS = ("answer", "any-card", "rightmost-card")


def named_card(scene, seed: int, lift: str = "any-card") -> int:
    """The digit a named-card episode of `scene` lifts: one of its cards, uniform, drawn by seed
    (any-card), or the card in the rightmost slot (rightmost-card; an error if that slot is empty)."""
    if lift == "rightmost-card":
        from chatvla2.sim.splits import CARDSWAP_SLOT

        rightmost = [card.digit for card in scene.cards if card.slot == CARDSWAP_SLOT]
        if not rightmost:
            raise ValueError(f"seed {seed}'s scene has no card in the rightmost slot")
        return int(rightmost[0])
    return int(scene.cards[np.random.default_rng([seed, 7]).integers(len(scene.cards))].digit)


class StepRecorder:
    """What each camera saw and the arm's state just before every action, and the actions: call
    `record(action)` before the simulator executes it; `arrays()` gives an `Episode`'s arrays."""

    def __init__(self, env) -> None:
        self.env = env
        self.frames = {camera: [] for camera in env.config.cameras}
        self.qpos, self.qvel, self.actions = [], [], []

    def record(self, action) -> None:
        for camera in self.env.config.cameras:
            self.frames[camera].append(self.env.render(camera))
        self.qpos.append(self.env.qpos())
        self.qvel.append(self.env.qvel())
        self.actions.append(np.asarray(action, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.actions)

    def arrays(self) -> dict:
        return {"qpos": np.asarray(self.qpos), "qvel": np.asarray(self.qvel), "action": np.asarray(self.actions),
                "images": {c: np.asarray(f) for c, f in self.frames.items()}}


def record_expert_episode(env, task: str, seed: int, split: str, lift: str = "answer") -> Episode:
    """Reset `env`, run the scripted expert, store what each camera saw before every action."""
    from chatvla2.sim.appearance import refuse_open_world_for_training
    from chatvla2.sim.expert import plan_expert_actions
    from chatvla2.sim.tasks.math_cards import lifted_cards, math_reasoning

    refuse_open_world_for_training(split)

    if lift not in LIFTS:
        raise ValueError(f"unknown lift '{lift}': use one of {', '.join(LIFTS)}")
    if lift != "answer" and task != "math":
        raise ValueError(f"lift '{lift}' needs math scenes (cards to name), not '{task}'")
    scene = env.reset(task, seed, split)
    digit = None if lift == "answer" else named_card(scene, seed, lift)
    plan = plan_expert_actions(env, digit)  # (T, 8)
    recorder = StepRecorder(env)
    for action in plan:
        recorder.record(action)
        env.step(action)
    if digit is None:
        success, reasoning = env.outcome()[0], scene.reasoning
    else:
        success = lifted_cards(env) == [digit]
        reasoning = math_reasoning(scene.equation, [c.digit for c in scene.cards], named=digit)
    return Episode(task=task, instruction=scene.instruction, reasoning=reasoning, success=success,
                   seed=seed, split=split, control_dt_s=env.config.control_dt_s,
                   joint_names=env.robot.command_names, **recorder.arrays())


_WORKER_ENV = {}
_WORKER_POLICY = {}


def _worker_policy(spec: str, robot):
    if spec not in _WORKER_POLICY:
        from chatvla2.policy.loading import load_policy
        from chatvla2.policy.runtime import RuntimeConfig

        _WORKER_POLICY[spec] = load_policy(spec, robot, RuntimeConfig(mode="sync"), torch_threads=1)
    return _WORKER_POLICY[spec]


def _run_job(job: EpisodeJob) -> tuple[str, bool]:
    """(path written, success); a DAgger job with nothing to correct writes nothing: ("", False)."""
    from chatvla2.control.robot import load_robot_spec
    from chatvla2.sim.env import SimConfig, TaskEnv

    env = _WORKER_ENV.get(job.image_size_px)
    if env is None:
        env = TaskEnv(load_robot_spec("franka_fr3"),
                      SimConfig(image_height_px=job.image_size_px, image_width_px=job.image_size_px))
        _WORKER_ENV[job.image_size_px] = env
    if job.question_answers:
        from chatvla2.data.image_text import record_qa

        return str(record_qa(env, job.task, job.seed, job.split, job.out_dir)), True
    if job.dagger_policy:
        from chatvla2.data.dagger import HANDOVER_STEPS, handover_step, record_dagger_episode

        policy = _worker_policy(job.dagger_policy, env.robot)
        handover = handover_step(job.seed, job.handover_steps or HANDOVER_STEPS)
        episode = record_dagger_episode(env, policy, job.task, job.seed, job.split, handover)
        if episode is None:
            return "", False
    else:
        episode = record_expert_episode(env, job.task, job.seed, job.split, job.lift)
    write_episode(job.path, episode)
    return str(job.path), episode.success


def generate_episodes(jobs: list[EpisodeJob], workers: int = 1) -> list[tuple[str, bool]]:
    """Write every job's episode file; returns (path, expert success) per job, with tqdm progress
    (path "" for a DAgger job that wrote nothing)."""
    for job in jobs:
        job.out_dir.mkdir(parents=True, exist_ok=True)
    if workers <= 1:
        return [_run_job(job) for job in tqdm(jobs, desc="episodes", unit="ep")]
    os.environ.setdefault("MUJOCO_GL", "egl")
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return list(tqdm(pool.imap(_run_job, jobs), total=len(jobs), desc="episodes", unit="ep"))
