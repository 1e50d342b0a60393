"""Warm a policy up before it serves real frames.

The first inference of a freshly loaded model is slower than the next ones (torch allocates its
buffers, oneDNN builds its kernels for these shapes, the reasoning thread starts for the first
time; on a GPU the CUDA context and kernel selection make it seconds; the tiny model on this CPU:
about 1.3x). A first chunk that answers an observation older than the controller accepts is
thrown away. `warm_up` runs the whole path (encode, reason, act; in the
async runtime the background reasoning thread too) on a dummy observation shaped like the real
ones, then resets the policy so nothing of the dummy scene survives. Every consumer that times or
serves a model calls it once after loading: the inference node at configure, replay, benchmarks.

Never call it on a policy that is serving: `reset` drops the current reasoning.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from chatvla2.policy.interface import Observation, Policy

WARM_UP_INSTRUCTION = "warm-up: this scene is not real"
DEFAULT_WARM_UP_IMAGE_SIZE_PX = (224, 224)  # (height, width), the sim cameras' and training frames'


@dataclass(frozen=True)
class WarmUp:
    """What the warm-up took: seconds per round (the first is the cold one)."""

    round_s: tuple[float, ...]

    @property
    def total_s(self) -> float:
        return float(sum(self.round_s))

    def describe(self) -> str:
        rounds = ", ".join(f"{seconds:.2f}" for seconds in self.round_s)
        return f"warmed up in {self.total_s:.2f} s (rounds: {rounds} s)"


def warm_up_observation(camera_names: list[str] | tuple[str, ...], joint_names: tuple[str, ...],
                        joint_positions: np.ndarray,
                        image_size_px: tuple[int, int] = DEFAULT_WARM_UP_IMAGE_SIZE_PX,
                        seed: int = 0) -> Observation:
    """A dummy observation: one textured (H, W, 3) uint8 frame per camera, the given joint state."""
    height, width = (int(v) for v in image_size_px)
    if height < 1 or width < 1:
        raise ValueError(f"warm-up image size must be positive (height, width), got {image_size_px}")
    if not camera_names:
        raise ValueError("warm-up needs at least one camera name")
    rng = np.random.default_rng(seed)
    images = {name: rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for name in camera_names}
    return Observation(images, tuple(joint_names), np.asarray(joint_positions, dtype=float),
                       WARM_UP_INSTRUCTION, stamp_s=0.0)


def warm_up(policy: Policy, observation: Observation, rounds: int = 2) -> WarmUp:
    """Run `rounds` full inferences on `observation`, each after a reset (so each one reasons, as
    the first chunk after `activate` does), then reset the policy. Errors propagate: a model
    that cannot answer a dummy observation will not answer a real one either."""
    if rounds < 1:
        raise ValueError(f"warm-up rounds must be >= 1, got {rounds}")
    times = []
    try:
        for index in range(rounds):
            policy.reset()
            start_s = time.perf_counter()
            output = policy.infer(_restamped(observation, float(index)))
            times.append(time.perf_counter() - start_s)
            if not np.all(np.isfinite(output.actions)):
                raise ValueError("policy returned non-finite actions during warm-up")
    finally:
        policy.reset()
    return WarmUp(tuple(times))


def _restamped(observation: Observation, stamp_s: float) -> Observation:
    return Observation(observation.images, observation.joint_names, observation.joint_positions,
                       observation.instruction, stamp_s)
