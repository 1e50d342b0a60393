"""RobotStateAssembler: vendor joint states -> the robot YAML's state (arm joints + opening)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from chatvla2.control.robot import load_robot_spec
from chatvla2.control.robot_state import RobotStateAssembler

FR3 = load_robot_spec("franka_fr3")
ARX = load_robot_spec("arx_r5")
ARM = [f"fr3_joint{i}" for i in range(1, 8)]


def test_franka_opening_is_the_sum_of_franka_ros2s_finger_joints():
    assembler = RobotStateAssembler(FR3)
    state = assembler.update(ARM + ["fr3_finger_joint1", "fr3_finger_joint2"],
                             list(FR3.home_positions_rad) + [0.0123, 0.0127], 5.0)
    assert state.names == FR3.command_names
    np.testing.assert_allclose(state.positions[:7], FR3.home_positions_rad)
    assert state.positions[7] == pytest.approx(0.025, abs=1e-12)


def test_a_joint_franka_ros2_does_not_publish_is_never_read():
    # The YAML's own column name is not a franka_ros2 joint: publishing it gives no gripper state.
    assembler = RobotStateAssembler(FR3)
    assert assembler.update(ARM + ["fr3_finger_width"], list(FR3.home_positions_rad) + [0.05], 1.0) is None
    assert assembler.missing == ["fr3_finger_joint1", "fr3_finger_joint2"]


def test_arm_and_hand_on_separate_topics_join_stamped_by_the_arm():
    # franka_ros2: /franka/joint_states (1 kHz) and /franka_gripper/joint_states (15 Hz)
    assembler = RobotStateAssembler(FR3)
    assert assembler.update(["fr3_finger_joint1", "fr3_finger_joint2"], [0.02, 0.02], 9.5) is None
    state = assembler.update(ARM, FR3.home_positions_rad, 10.0)
    assert state.positions[7] == pytest.approx(0.04) and state.stamp_s == 10.0
    state = assembler.update(ARM[:3], FR3.home_positions_rad[:3] + 0.01, 10.1)
    assert state.stamp_s == 10.0, "joints 4-7 were last heard at 10.0"
    assert state.positions[0] == pytest.approx(0.01)


def test_arx_publishes_the_yaml_names_directly():
    names = list(ARX.command_names)
    state = RobotStateAssembler(ARX).update(names[::-1], np.arange(7.0)[::-1], 2.0)
    np.testing.assert_allclose(state.positions, np.arange(7.0))


@pytest.mark.parametrize("names, positions, match", [
    (ARM + ["fr3_finger_joint1", "fr3_finger_joint2"], [0.0] * 8, "9 names but 8"),
    (ARM + ["fr3_finger_joint1", "fr3_finger_joint1"], [0.0] * 9, "repeats"),
    (ARM + ["fr3_finger_joint1", "fr3_finger_joint2"], [0.0] * 8 + [float("nan")], "non-finite"),
])
def test_malformed_messages_are_refused(names, positions, match):
    with pytest.raises(ValueError, match=match):
        RobotStateAssembler(FR3).update(names, positions, 0.0)


@given(st.floats(0.0, 0.04), st.floats(0.0, 0.04))
def test_opening_is_exact_sum(left, right):
    state = RobotStateAssembler(FR3).update(ARM + ["fr3_finger_joint2", "fr3_finger_joint1"],
                                            [0.0] * 7 + [right, left], 0.0, velocities=[0.0] * 7 + [0.1, 0.2])
    assert abs(state.positions[7] - (left + right)) <= 1e-15
    assert state.velocities[7] == pytest.approx(0.3)
