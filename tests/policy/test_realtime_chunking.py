"""Real-time chunking: the soft mask, the alignment with the previous chunk, and the DDIM head
and runtime keeping the frozen rows (real tiny model, random weights)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.policy.interface import Observation
from chatvla2.policy.realtime_chunking import RtcConfig, delay_steps, inpainting_guide, soft_weights
from chatvla2.policy.runtime import AsyncReasoningRuntime, RuntimeConfig
from chatvla2.policy.runtime_model import ChatVLA2TwoRateModel

ROBOT = load_robot_spec("franka_fr3")


def test_soft_weights_follow_the_papers_exponential_mask():
    # Physical Intelligence's reference example: start 2, end 6 of 10 gives the linear ramp
    # 1 1 4/5 3/5 2/5 1/5 0 0 0 0; the exponential schedule maps each ramp value c to c (e^c - 1) / (e - 1).
    ramp = np.array([1, 1, 4 / 5, 3 / 5, 2 / 5, 1 / 5, 0, 0, 0, 0])
    expected = np.where(np.arange(10) < 2, 1.0, ramp * np.expm1(ramp) / (math.e - 1))
    np.testing.assert_allclose(soft_weights(10, delay=2, offset=4), expected, atol=1e-12)
    weights = soft_weights(16, delay=3, offset=2)
    assert np.all(weights[:3] == 1.0) and np.all(np.diff(weights[2:14]) < 0) and np.all(weights[14:] == 0.0)


def test_delay_and_alignment():
    config = RtcConfig(min_delay_steps=1, max_delay_steps=4)
    assert delay_steps(0.01, 0.1, config) == 1 and delay_steps(0.25, 0.1, config) == 3
    assert delay_steps(0.2, 0.1, config) == 2 and delay_steps(5.0, 0.1, config) == 4
    assert delay_steps(float("inf"), 0.1, config) == 4
    with pytest.raises(ValueError, match="delay bounds"):
        RtcConfig(min_delay_steps=5, max_delay_steps=2)
    previous = np.arange(16 * 2, dtype=float).reshape(16, 2)
    guide = inpainting_guide(previous, 1.0, 1.3, 0.1, delay=2)  # 3 rows of it were due before 1.3 s
    np.testing.assert_array_equal(guide.target[:13], previous[3:])
    assert guide.frozen_rows == 2 and np.all(guide.weights[13:] == 0.0)
    assert inpainting_guide(previous, 1.0, 2.7, 0.1, delay=2) is None, "the previous chunk is over"
    assert inpainting_guide(previous, 1.0, 0.9, 0.1, delay=2) is None, "an observation older than the chunk"


def test_the_head_keeps_the_frozen_rows(model):
    """Fails if the sampler ignores the inpainting target: the frozen rows would be random."""
    generator = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    observation_embedding, reasoning_embedding = torch.randn(1, 128), torch.randn(1, 128)
    free = model.sample_actions(observation_embedding, reasoning_embedding, np.zeros(8), generator())[0].numpy()
    target = free[::-1].copy() * 0.5  # rows the free sample would not produce
    weights = soft_weights(16, delay=4, offset=0)
    guided = model.sample_actions(observation_embedding, reasoning_embedding, np.zeros(8), generator(),
                                  inpaint=(target, weights))[0].numpy()
    np.testing.assert_allclose(guided[:4], target[:4], atol=1e-5)
    assert np.abs(free[:4] - target[:4]).max() > 0.05, "the test needs a target the free sample misses"
    span = (model.action_stats.tensor("action_max", torch.zeros(8)) - model.action_stats.tensor("action_min", torch.zeros(8))).numpy()
    # Final DDIM step: row j = w target + (1 - w) predicted, both inside the action range.
    assert np.all(np.abs(guided - target) <= (1.0 - weights)[:, None] * span + 1e-5)


def observation(stamp_s: float, joints: np.ndarray | None = None) -> Observation:
    """The arm at `joints` (command order; default the home pose)."""
    frame = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    return Observation({"front": frame}, ROBOT.command_names,
                       (ROBOT.home_command if joints is None else joints).copy(),
                       "pick the card that answers the equation", stamp_s)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_runtime_reproduces_the_frozen_prefix_exactly(model, mode):
    rtc = RtcConfig(min_delay_steps=3, max_delay_steps=3)
    runtime = AsyncReasoningRuntime(ChatVLA2TwoRateModel(model, ROBOT),
                                    RuntimeConfig(mode=mode, max_reasoning_tokens=4, rtc=rtc))
    try:
        first = runtime.infer(observation(10.0))
        assert "rtc_delay_steps" not in first.info, "the first chunk of a task has nothing to follow"
        later = observation(10.2, first.actions[2])  # 2 rows of the first chunk were due; the arm follows them
        second = runtime.infer(later)
        plain = AsyncReasoningRuntime(ChatVLA2TwoRateModel(model, ROBOT),
                                      RuntimeConfig(mode="sync", max_reasoning_tokens=4)).infer(later)
    finally:
        runtime.close()
    assert second.info["rtc_delay_steps"] == 3.0 and second.info["rtc_frozen_rows"] == 3.0
    np.testing.assert_array_equal(second.actions[:3], first.actions[2:5])
    weights = soft_weights(16, delay=3, offset=2)
    rtc_gap = np.abs(second.actions[:14] - first.actions[2:]).max(axis=1)  # (14,) per row
    plain_gap = np.abs(plain.actions[:14] - first.actions[2:]).max(axis=1)
    assert rtc_gap[3] < plain_gap[3], "the first free row stays closer to the executed chunk than without RTC"
    runtime.reset()
    assert runtime.previous is None, "a reset forgets the chunk being executed"


def test_nothing_is_frozen_when_the_arm_is_not_executing_the_previous_chunk(model):
    """A chunk the controller rejected (or a hold) leaves the arm elsewhere: freezing its rows would
    get every later chunk rejected at the same gate, so the runtime starts afresh from the arm."""
    rtc = RtcConfig(min_delay_steps=3, max_delay_steps=3, max_first_jump_rad=0.3)
    runtime = AsyncReasoningRuntime(ChatVLA2TwoRateModel(model, ROBOT),
                                    RuntimeConfig(mode="sync", max_reasoning_tokens=4, rtc=rtc))
    try:
        first = runtime.infer(observation(10.0))
        moved = ROBOT.home_command.copy()
        moved[1] = first.actions[2, 1] + 0.5  # joint 2 half a radian from the row due next
        held = runtime.infer(observation(10.2, moved))
        following = runtime.infer(observation(10.4, held.actions[2]))  # the arm where the held chunk puts it
    finally:
        runtime.close()
    assert "rtc_frozen_rows" not in held.info and held.info["rtc_dropped"] == 1.0
    assert not np.array_equal(held.actions[:3], first.actions[2:5])
    assert following.info["rtc_frozen_rows"] == 3.0 and following.info["rtc_dropped"] == 1.0
    np.testing.assert_array_equal(following.actions[:3], held.actions[2:5])
    with pytest.raises(ValueError, match="max_first_jump_rad"):
        RtcConfig(max_first_jump_rad=0.0)
