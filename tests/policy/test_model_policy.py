import numpy as np
import pytest
import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.policy.interface import Observation, Policy
from chatvla2.policy.loading import load_policy
from chatvla2.policy.model_policy import ModelPolicy

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny")
    ChatVLA2Model.from_preset("tiny", max_reasoning_tokens=8).save_pretrained(directory)
    return directory


def observation(robot, instruction="pick the card that answers the board"):
    rng = np.random.default_rng(0)
    names = tuple(reversed(robot.command_names))  # any joint order must work
    positions = np.array([robot.home_command[robot.command_names.index(n)] for n in names])
    return Observation(images={"front": rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)},
                       joint_names=names, joint_positions=positions, instruction=instruction, stamp_s=1.0)


def test_load_policy_returns_a_model_policy_that_reasons_then_acts(checkpoint):
    robot = load_robot_spec("franka_fr3")
    policy = load_policy(str(checkpoint), robot)
    assert isinstance(policy, ModelPolicy) and isinstance(policy, Policy)
    first = policy.infer(observation(robot))
    assert first.joint_names == robot.command_names
    assert first.actions.shape == (16, 8) and np.all(np.isfinite(first.actions))
    assert isinstance(first.reasoning, str)
    assert first.info["reasoning_tokens"] <= 8
    policy.reset()
    again = policy.infer(observation(robot))
    np.testing.assert_array_equal(first.actions, again.actions)  # reset re-seeds the sampler


def test_missing_joint_is_rejected(checkpoint):
    robot = load_robot_spec("franka_fr3")
    policy = load_policy(str(checkpoint), robot)
    full = observation(robot)
    partial = Observation(images=full.images, joint_names=full.joint_names[1:],
                          joint_positions=full.joint_positions[1:], instruction="pick", stamp_s=0.0)
    with pytest.raises(ValueError, match="lacks joints"):
        policy.infer(partial)
