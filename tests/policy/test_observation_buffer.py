"""Newest sample per source, handed out once; stale samples refused with the reason."""
from __future__ import annotations

import numpy as np
import pytest

from chatvla2.policy.observation_buffer import ObservationBuffer

NAMES = ("j1", "j2")


def frame(level: int) -> np.ndarray:
    return np.full((4, 6, 3), level, dtype=np.uint8)


def test_newest_samples_are_synchronised_and_older_triggers_counted_as_superseded():
    buffer = ObservationBuffer(["front", "wrist"], max_age_s=0.5)
    buffer.put_joint_state(10.0, NAMES, np.array([0.1, 0.2]))
    buffer.put_frame("wrist", 10.0, frame(1))
    buffer.put_frame("front", 10.0, frame(2))
    buffer.put_frame("front", 10.1, frame(3))  # replaces an unused trigger frame
    buffer.put_frame("wrist", 10.1, frame(4))
    assert buffer.superseded == 1 and buffer.wait_for_trigger(0.0)
    observation, why = buffer.take(now_s=10.2, instruction="pick 7")
    assert why == "" and observation.stamp_s == 10.1
    assert observation.images["front"][0, 0, 0] == 3 and observation.images["wrist"][0, 0, 0] == 4
    assert observation.joint_names == NAMES and observation.instruction == "pick 7"
    assert not buffer.wait_for_trigger(0.0), "a trigger frame is used once"


def test_stale_camera_or_joint_state_is_refused_and_counted():
    buffer = ObservationBuffer(["front"], max_age_s=0.2)
    buffer.put_joint_state(9.0, NAMES, np.zeros(2))
    buffer.put_frame("front", 10.0, frame(0))
    observation, why = buffer.take(now_s=10.05, instruction="x")
    assert observation is None and "joint state" in why and "stale" in why
    buffer.put_joint_state(10.0, NAMES, np.zeros(2))
    buffer.put_frame("front", 10.0, frame(0))
    observation, why = buffer.take(now_s=10.5, instruction="x")
    assert observation is None and "camera 'front'" in why
    assert buffer.stale == 2


def test_missing_source_waits():
    buffer = ObservationBuffer(["front", "wrist"], max_age_s=0.2)
    buffer.put_frame("front", 1.0, frame(0))
    observation, why = buffer.take(now_s=1.0, instruction="x")
    assert observation is None and "wrist" in why


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="camera"):
        ObservationBuffer([], 0.5)
    with pytest.raises(ValueError, match="max_observation_age_s"):
        ObservationBuffer(["front"], 0.0)
