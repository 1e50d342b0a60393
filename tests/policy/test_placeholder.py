"""The placeholder policy answers honestly and produces valid chunks for the robot."""
from pathlib import Path

import numpy as np
import pytest

from chatvla2.control.robot import load_robot_spec
from chatvla2.policy.interface import Observation, Policy
from chatvla2.policy.loading import load_policy

ROBOT = load_robot_spec("franka_fr3")


def observation(brightness: int) -> Observation:
    return Observation(images={"front": np.full((8, 8, 3), brightness, np.uint8)},
                       joint_names=ROBOT.command_names, joint_positions=ROBOT.home_command,
                       instruction="pick the card", stamp_s=1.0)


def test_chunk_starts_near_the_state_and_ends_at_the_sway_goal():
    policy = load_policy("placeholder", ROBOT)
    assert isinstance(policy, Policy)
    output = policy.infer(observation(255))
    assert output.actions.shape == (16, 8)
    assert output.joint_names == ROBOT.command_names
    assert output.actions[-1, 0] == pytest.approx(ROBOT.home_command[0] + 0.2)
    assert np.abs(output.actions[0] - ROBOT.home_command).max() < 0.2 / 16 + 1e-9
    assert "no model loaded" in output.reasoning and "brightness 1.00" in output.reasoning


def test_sway_scales_with_brightness_and_turns_back():
    policy = load_policy("placeholder", ROBOT)
    dark = policy.infer(observation(0)).actions[-1, 0]
    assert dark == pytest.approx(ROBOT.home_command[0])
    for _ in range(9):
        policy.infer(observation(255))
    assert policy.infer(observation(255)).actions[-1, 0] < ROBOT.home_command[0]


def test_missing_joints_are_rejected():
    policy = load_policy("placeholder", ROBOT)
    bad = Observation(images={"front": np.zeros((4, 4, 3), np.uint8)}, joint_names=("a",),
                      joint_positions=np.zeros(1), instruction="", stamp_s=0.0)
    with pytest.raises(ValueError, match="lacks joints"):
        policy.infer(bad)


def test_unknown_policy_name_is_an_error():
    with pytest.raises(FileNotFoundError, match="'no-such-policy' does not exist"):
        load_policy("no-such-policy", ROBOT)


def test_relative_model_path_resolves_under_the_package_from_any_directory(tmp_path, monkeypatch):
    from chatvla2.paths import resolve_data_path, share_dir

    monkeypatch.chdir(tmp_path)
    assert resolve_data_path("models/chatvla2-tiny") == share_dir() / "models" / "chatvla2-tiny"
    assert resolve_data_path("models/no_such_model") == Path("models/no_such_model")  # error names what was asked
    (tmp_path / "models" / "mine").mkdir(parents=True)
    assert resolve_data_path("models/mine") == Path("models/mine")  # the working directory comes first
