"""The two-rate runtime over the real tiny ChatVLA-2 model (random weights, 2 CPU threads)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.policy.interface import Observation
from chatvla2.policy.reasoning_scheduler import ReasoningScheduleConfig
from chatvla2.policy.runtime import AsyncReasoningRuntime, ModelOutputError, RuntimeConfig
from chatvla2.policy.loading import load_policy
from chatvla2.policy.runtime_model import ChatVLA2TwoRateModel

ROBOT = load_robot_spec("franka_fr3")


def observation(stamp_s: float, instruction: str = "pick the card that answers the equation", level: int = 0):
    rng = np.random.default_rng(level)
    frame = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    return Observation({"front": frame}, ROBOT.command_names, ROBOT.home_command.copy(), instruction, stamp_s)


def test_wrapper_reasons_exactly_like_the_model(model):
    two_rate = ChatVLA2TwoRateModel(model, ROBOT)
    obs = observation(0.0)
    expected = model.generate_reasoning(obs.images, obs.instruction, 12)
    encoded = two_rate.encode(obs, keep_cache=True)
    text, reasoning = two_rate.reason(encoded, 12)
    assert text == expected.text
    torch.testing.assert_close(reasoning.embedding, expected.embedding, atol=1e-5, rtol=1e-4)
    assert reasoning.states.shape == (1, len(expected.token_ids), 128)
    torch.testing.assert_close(two_rate.encode(obs).observation_embedding, expected.observation_embedding)
    chunk = two_rate.act(encoded, reasoning, obs)
    assert chunk.shape == (16, 8) and np.all(np.isfinite(chunk))


def test_async_refreshes_periodically_and_on_new_instruction(model):
    two_rate = ChatVLA2TwoRateModel(model, ROBOT, stop_at_end=False)
    config = RuntimeConfig(mode="async", max_reasoning_tokens=4,
                           schedule=ReasoningScheduleConfig(refresh_every_frames=5, scene_change_threshold=0.0))
    runtime = AsyncReasoningRuntime(two_rate, config)
    try:
        first = runtime.infer(observation(0.0))
        assert first.info["reasoning_age_s"] == 0.0, "the first chunk of a task waits for its reasoning"
        outputs = [runtime.infer(observation(k / 30)) for k in range(1, 12)]
        assert all(o.actions.shape == (16, 8) for o in outputs)
        assert max(o.info["reasoning_age_s"] for o in outputs) > 0.0, "frames in between reuse older reasoning"
        runtime.worker.wait_for("pick the card that answers the equation", 10.0)
        assert runtime.worker.finished >= 2, "frames 5 and 10 requested periodic refreshes"
        switched = runtime.infer(observation(1.0, instruction="put the block on the left"))
        assert switched.info["reasoning_age_s"] == 0.0, "a new instruction never acts on the old reasoning"
    finally:
        runtime.close()


class GatedReasoning:
    """The real wrapper, with `reason` held until the gate opens (a slow reasoning, on demand)."""

    def __init__(self, two_rate: ChatVLA2TwoRateModel) -> None:
        self.two_rate, self.gate = two_rate, threading.Event()
        self.gate.set()
        self.joint_names, self.step_dt_s = two_rate.joint_names, two_rate.step_dt_s
        self.encode, self.act = two_rate.encode, two_rate.act

    def reason(self, encoded, max_new_tokens):
        self.gate.wait(10.0)
        return self.two_rate.reason(encoded, max_new_tokens)


def test_reasoning_begun_before_a_reset_is_never_served_after_it(model):
    gated = GatedReasoning(ChatVLA2TwoRateModel(model, ROBOT, stop_at_end=False))
    config = RuntimeConfig(mode="async", max_reasoning_tokens=4,
                           schedule=ReasoningScheduleConfig(refresh_every_frames=1, scene_change_threshold=0.0))
    runtime = AsyncReasoningRuntime(gated, config)
    try:
        runtime.infer(observation(4.0))
        gated.gate.clear()
        runtime.infer(observation(5.0))  # a periodic refresh starts and blocks
        assert runtime.worker.busy
        runtime.reset()  # next episode; its clock starts again at 0
        threading.Timer(0.3, gated.gate.set).start()  # the old refresh ends while the new one waits
        first = runtime.infer(observation(0.0, level=1))
        assert first.info["reasoning_age_s"] == 0.0, "the first chunk acted on the last episode's reasoning"
    finally:
        gated.gate.set()
        runtime.close()


def test_sync_reasons_every_frame(model):
    runtime = AsyncReasoningRuntime(ChatVLA2TwoRateModel(model, ROBOT), RuntimeConfig(mode="sync", max_reasoning_tokens=4))
    outputs = [runtime.infer(observation(k / 30)) for k in range(3)]
    assert [o.info["reasoning_age_s"] for o in outputs] == [0.0, 0.0, 0.0]
    assert [o.info["reasoning_refreshes"] for o in outputs] == [1.0, 2.0, 3.0]
    assert runtime.worker is None


def test_sync_once_per_instruction_reuses_the_first_reasoning(model):
    schedule = ReasoningScheduleConfig(refresh_every_frames=0, scene_change_threshold=0.0)
    two_rate = ChatVLA2TwoRateModel(model, ROBOT)
    runtime = AsyncReasoningRuntime(two_rate, RuntimeConfig(mode="sync", max_reasoning_tokens=4, schedule=schedule))
    outputs = [runtime.infer(observation(k / 30, level=k)) for k in range(4)]
    assert [o.info["reasoning_refreshes"] for o in outputs] == [1.0, 1.0, 1.0, 1.0]
    assert [o.info["reasoning_age_s"] for o in outputs] == [0.0, 1 / 30, 2 / 30, 3 / 30]
    assert len({o.reasoning for o in outputs}) == 1
    # the chunk of a later frame is that frame's encoding with the held reasoning
    held = runtime.reasoning.embedding
    later = observation(3 / 30, level=3)
    np.testing.assert_allclose(outputs[3].actions, two_rate.act(two_rate.encode(later), held, later), atol=1e-5)
    switched = runtime.infer(observation(0.2, instruction="put the block on the left"))
    assert switched.info["reasoning_refreshes"] == 2.0 and switched.info["reasoning_age_s"] == 0.0
    runtime.reset()
    assert runtime.infer(observation(0.0)).info["reasoning_refreshes"] == 3.0, "a reset starts a new task"


def test_nan_weights_raise_instead_of_returning_a_chunk():
    torch.manual_seed(1)
    poisoned = ChatVLA2Model.from_preset("tiny").eval()
    with torch.no_grad():
        poisoned.head.final.linear.bias.fill_(float("nan"))
    runtime = AsyncReasoningRuntime(ChatVLA2TwoRateModel(poisoned, ROBOT), RuntimeConfig(mode="sync", max_reasoning_tokens=2))
    with pytest.raises(ModelOutputError, match="non-finite"):
        runtime.infer(observation(0.0))


def test_checkpoint_round_trip_through_load_policy(model, tmp_path):
    model.save_pretrained(tmp_path / "tiny")
    policy = load_policy(str(tmp_path / "tiny"), ROBOT, RuntimeConfig(mode="async", max_reasoning_tokens=3))
    try:
        output = policy.infer(observation(0.0))
        assert output.joint_names == ROBOT.command_names and output.actions.shape == (16, 8)
    finally:
        policy.close()
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        load_policy(str(tmp_path / "no-such-dir"), ROBOT, RuntimeConfig())


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="runtime mode"):
        RuntimeConfig(mode="fast")
