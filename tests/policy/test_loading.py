"""`load_policy`: one path from a checkpoint to the runtime, in sync or async mode, for every caller."""
import numpy as np
import pytest
import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.model.action_head import TokenContext, add_head_parts, add_token_attention
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.policy.interface import Observation, Policy
from chatvla2.policy.loading import close_policy, load_policy, policy_mode
from chatvla2.policy.runtime import AsyncReasoningRuntime, RuntimeConfig

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


@pytest.fixture(scope="module")
def attending_checkpoint(tmp_path_factory):
    """A tiny model whose head has token attention, its cross-attention and output layers given values (a
    fresh head's AdaLN-zero output is zero whatever it reads)."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("attending")
    model = ChatVLA2Model.from_preset("tiny", max_reasoning_tokens=8)
    model.head = add_token_attention(model.head, model.config.text_hidden_size)
    model.config.action_head = model.head.config
    with torch.no_grad():
        for block in model.head.blocks:
            block.cross_attention.attn.out_proj.weight.normal_(0.0, 0.3)
            block.adaLN_modulation[1].bias.normal_(0.0, 0.3)
        model.head.final.linear.weight.normal_(0.0, 0.3)
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def locating_checkpoint(tmp_path_factory):
    """A tiny model whose head has a target locator, its located target given weight."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("locating")
    model = ChatVLA2Model.from_preset("tiny", max_reasoning_tokens=8)
    model.head = add_head_parts(model.head, model.config.text_hidden_size, target_locator=True)
    model.config.action_head = model.head.config
    with torch.no_grad():
        model.head.target_proj[-1].weight.normal_(0.0, 0.3)
        for block in model.head.blocks:
            block.adaLN_modulation[1].weight.normal_(0.0, 0.05)
        model.head.final.adaLN_modulation[1].weight.normal_(0.0, 0.05)
        model.head.final.linear.weight.normal_(0.0, 0.3)
    model.save_pretrained(directory)
    return directory


@pytest.mark.parametrize("head", ["pooled", "token attention", "target locator"])
def test_both_modes_give_the_models_own_reasoning_and_chunk(checkpoint, attending_checkpoint, locating_checkpoint,
                                                            head):
    """Sync (evaluation's default) and async (the robot's) answer a first observation identically,
    and both equal the model's own greedy reasoning and seed-0 DDIM chunk: one decoder, one head
    (a token-attention head reading the same token states as `generate_reasoning` gives)."""
    checkpoint = {"token attention": attending_checkpoint, "target locator": locating_checkpoint}.get(head, checkpoint)
    robot = load_robot_spec("franka_fr3")
    obs = observation(robot)
    model = ChatVLA2Model.from_pretrained(checkpoint).eval()
    expected = model.generate_reasoning(obs.images, obs.instruction, max_new_tokens=12)
    state = np.array([obs.joint_positions[obs.joint_names.index(n)] for n in robot.command_names])
    context = expected.context  # None for the pooled head
    assert (context is not None) == model.config.action_head.reads_tokens == (head != "pooled")

    def sample(context: TokenContext | None) -> np.ndarray:
        return model.sample_actions(expected.observation_embedding, expected.embedding, state, context=context,
                                    generator=torch.Generator().manual_seed(0))[0].numpy()

    chunk = sample(context)
    if context is not None:  # the chunk depends on the token states, so the comparison below can fail
        shifted = TokenContext(context.states + 1.0, context.positions, context.reasoning, context.valid)
        assert np.abs(sample(shifted) - chunk).max() > 1e-3
    outputs = {}
    for mode in ("sync", "async"):
        policy = load_policy(str(checkpoint), robot, RuntimeConfig(mode=mode, max_reasoning_tokens=12))
        assert isinstance(policy, AsyncReasoningRuntime) and isinstance(policy, Policy)
        assert policy_mode(policy) == f"{mode} runtime"
        try:
            outputs[mode] = policy.infer(obs)
        finally:
            close_policy(policy)
    for mode, output in outputs.items():
        assert output.joint_names == robot.command_names and output.reasoning == expected.text, mode
        np.testing.assert_allclose(output.actions, chunk, rtol=1e-5, atol=1e-6, err_msg=mode)
    np.testing.assert_array_equal(outputs["sync"].actions, outputs["async"].actions)


def test_placeholder_missing_joint_and_missing_directory(checkpoint, tmp_path):
    robot = load_robot_spec("franka_fr3")
    assert policy_mode(load_policy("placeholder", robot)) == "PlaceholderPolicy"
    policy = load_policy(str(checkpoint), robot, RuntimeConfig(mode="sync"))
    full = observation(robot)
    partial = Observation(images=full.images, joint_names=full.joint_names[1:],
                          joint_positions=full.joint_positions[1:], instruction="pick", stamp_s=0.0)
    with pytest.raises(ValueError, match="lacks joints"):
        policy.infer(partial)
    with pytest.raises(FileNotFoundError, match="nothing-here' does not exist"):
        load_policy(str(tmp_path / "nothing-here"), robot)


def test_reports_and_eval_name_a_reasoning_schedule_that_is_not_the_modes_default(checkpoint):
    from chatvla2.policy.reasoning_scheduler import ReasoningScheduleConfig
    from chatvla2.sim.commands import make_policy

    robot = load_robot_spec("franka_fr3")
    once = RuntimeConfig(mode="sync", schedule=ReasoningScheduleConfig(refresh_every_frames=0, scene_change_threshold=0.0))
    assert policy_mode(load_policy(str(checkpoint), robot, once)) == "sync runtime, reasoning once per instruction"
    assert policy_mode(load_policy(str(checkpoint), robot, RuntimeConfig(
        mode="sync", schedule=ReasoningScheduleConfig(refresh_every_frames=1, scene_change_threshold=0.0)))) == "sync runtime"
    policy = make_policy(str(checkpoint), None, robot, "sync", reasoning_every=4)
    assert policy.config.schedule == ReasoningScheduleConfig(refresh_every_frames=4, scene_change_threshold=0.0)
    assert policy_mode(policy) == "sync runtime, reasoning every 4 frames"
    assert make_policy(str(checkpoint), None, robot, "sync").config.schedule.refresh_every_frames == 1
