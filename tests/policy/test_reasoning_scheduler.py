"""When reasoning is regenerated: new instruction, every K frames, scene change; never less often."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatvla2.policy.reasoning_scheduler import (ReasoningScheduleConfig, ReasoningScheduler,
                                                 RefreshReason)


def scene(level: int) -> dict[str, np.ndarray]:
    return {"front": np.full((64, 80, 3), level, dtype=np.uint8)}


def test_first_frame_and_new_instruction_refresh():
    scheduler = ReasoningScheduler(ReasoningScheduleConfig(refresh_every_frames=100))
    assert scheduler.decide("pick 7", scene(100)) is RefreshReason.NEW_INSTRUCTION
    assert scheduler.decide("pick 7", scene(100)) is None
    assert scheduler.decide("pick 9", scene(100)) is RefreshReason.NEW_INSTRUCTION
    assert scheduler.decide("pick 9", scene(100)) is None


def test_periodic_refresh_every_k_frames():
    scheduler = ReasoningScheduler(ReasoningScheduleConfig(refresh_every_frames=4, scene_change_threshold=0.0))
    reasons = [scheduler.decide("pick 7", scene(100)) for _ in range(9)]
    assert [i for i, r in enumerate(reasons) if r is not None] == [0, 4, 8]
    assert reasons[4] is RefreshReason.PERIODIC


def test_scene_change_refreshes_and_small_noise_does_not():
    scheduler = ReasoningScheduler(ReasoningScheduleConfig(refresh_every_frames=1000, scene_change_threshold=0.08))
    scheduler.decide("pick 7", scene(100))
    rng = np.random.default_rng(0)
    noisy = {"front": np.clip(100 + rng.integers(-6, 7, (64, 80, 3)), 0, 255).astype(np.uint8)}
    assert scheduler.decide("pick 7", noisy) is None
    assert scheduler.decide("pick 7", scene(160)) is RefreshReason.SCENE_CHANGE
    # The reference moved with the refresh: the same new scene is no longer a change.
    assert scheduler.decide("pick 7", scene(160)) is None


def test_every_frame_when_k_is_one():
    scheduler = ReasoningScheduler(ReasoningScheduleConfig(refresh_every_frames=1))
    assert all(scheduler.decide("pick 7", scene(100)) is not None for _ in range(5))


def test_invalid_period_is_rejected():
    with pytest.raises(ValueError, match="refresh_every_frames"):
        ReasoningScheduleConfig(refresh_every_frames=-1)


def test_period_zero_reasons_only_for_a_new_instruction_or_a_changed_scene():
    scheduler = ReasoningScheduler(ReasoningScheduleConfig(refresh_every_frames=0, scene_change_threshold=0.0))
    assert scheduler.decide("pick 7", scene(100)) is RefreshReason.NEW_INSTRUCTION
    assert all(scheduler.decide("pick 7", scene(100 + i % 150)) is None for i in range(500))
    assert scheduler.decide("pick 3", scene(100)) is RefreshReason.NEW_INSTRUCTION
    watching = ReasoningScheduler(ReasoningScheduleConfig(refresh_every_frames=0, scene_change_threshold=0.08))
    watching.decide("pick 7", scene(100))
    assert watching.decide("pick 7", scene(101)) is None
    assert watching.decide("pick 7", scene(200)) is RefreshReason.SCENE_CHANGE


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 12), levels=st.lists(st.integers(0, 255), min_size=1, max_size=60),
       threshold=st.floats(0.0, 0.5))
def test_never_more_than_k_frames_without_refresh(k, levels, threshold):
    scheduler = ReasoningScheduler(ReasoningScheduleConfig(refresh_every_frames=k, scene_change_threshold=threshold))
    since = 0
    for level in levels:
        if scheduler.decide("task", scene(level)) is None:
            since += 1
        else:
            since = 0
        assert since < k
