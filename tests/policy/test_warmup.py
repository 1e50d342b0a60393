"""Warm-up: a full inference on a dummy observation, then nothing of it survives."""
from __future__ import annotations

import time

import numpy as np
import pytest

from chatvla2.control.robot import load_robot_spec
from chatvla2.policy.interface import Observation, PolicyOutput
from chatvla2.policy.runtime import RuntimeConfig
from chatvla2.policy.loading import close_policy, load_policy
from chatvla2.policy.warmup import WARM_UP_INSTRUCTION, warm_up, warm_up_observation

ROBOT = load_robot_spec("franka_fr3")


class RecordingPolicy:
    """A policy double that records every call (what warm-up does to the policy it is given)."""

    def __init__(self, actions_value: float = 0.0) -> None:
        self.calls: list[str] = []
        self.actions_value = actions_value

    def reset(self) -> None:
        self.calls.append("reset")

    def infer(self, observation: Observation) -> PolicyOutput:
        self.calls.append(f"infer {sorted(observation.images)} {observation.stamp_s}")
        return PolicyOutput("dummy", observation.joint_names,
                            np.full((4, len(observation.joint_names)), self.actions_value), 0.1)


def dummy() -> Observation:
    return warm_up_observation(["wrist", "front"], ROBOT.command_names, ROBOT.home_command, (60, 80))


def test_each_round_is_a_first_inference_and_the_policy_ends_reset():
    policy = RecordingPolicy()
    report = warm_up(policy, dummy(), rounds=2)
    assert policy.calls == ["reset", "infer ['front', 'wrist'] 0.0", "reset", "infer ['front', 'wrist'] 1.0", "reset"]
    assert len(report.round_s) == 2 and report.total_s >= 0.0
    assert "warmed up in" in report.describe()


def test_dummy_observation_has_every_camera_at_the_given_size():
    observation = dummy()
    assert set(observation.images) == {"front", "wrist"}
    assert all(image.shape == (60, 80, 3) and image.dtype == np.uint8 for image in observation.images.values())
    assert observation.instruction == WARM_UP_INSTRUCTION
    with pytest.raises(ValueError, match="at least one camera"):
        warm_up_observation([], ROBOT.command_names, ROBOT.home_command)
    with pytest.raises(ValueError, match="must be positive"):
        warm_up_observation(["front"], ROBOT.command_names, ROBOT.home_command, (0, 10))


def test_a_policy_that_fails_its_warm_up_raises_and_is_still_reset():
    policy = RecordingPolicy(actions_value=np.nan)
    with pytest.raises(ValueError, match="non-finite"):
        warm_up(policy, dummy())
    assert policy.calls[-1] == "reset"
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        warm_up(RecordingPolicy(), dummy(), rounds=0)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_first_chunk_after_warm_up_is_as_fast_as_the_steady_state(mode):
    """The shipped model through the node's own loader: after warm-up, the first chunk of a task
    (which must wait for its reasoning, in both modes) costs what later first chunks cost."""
    policy = load_policy("models/chatvla2-tiny", ROBOT, RuntimeConfig(mode=mode), "cpu", torch_threads=0)
    try:
        warm_up(policy, warm_up_observation(["front", "wrist"], ROBOT.command_names, ROBOT.home_command))
        if mode == "async":
            assert policy.reasoning is None and policy.worker.latest is None, "the dummy scene's reasoning survived"
        real = warm_up_observation(["front", "wrist"], ROBOT.command_names, ROBOT.home_command, seed=7)
        real = Observation(real.images, real.joint_names, real.joint_positions,
                           "pick up the card that shows the answer", 10.0)
        latencies = []
        for _ in range(6):
            policy.reset()
            start = time.perf_counter()
            output = policy.infer(real)
            latencies.append(time.perf_counter() - start)
            assert output.info["reasoning_age_s"] == 0.0, "a first chunk answers its own reasoning"
        first, steady = latencies[0], float(np.median(latencies[1:]))
        assert first <= 2.5 * steady, f"first chunk {first * 1e3:.0f} ms vs steady {steady * 1e3:.0f} ms: {latencies}"
    finally:
        close_policy(policy)
