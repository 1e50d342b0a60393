"""DAgger episodes: a policy drives, the expert takes over from wherever the arm is, training takes
labels from the hand-over on (real MuJoCo scenes, the real model for the command)."""
import h5py
import numpy as np
import pytest

from chatvla2.cli import main
from chatvla2.control.robot import load_robot_spec
from chatvla2.data.dagger import HANDOVER_STEPS, handover_step, record_dagger_episode
from chatvla2.data.episodes import EpisodeFileError, check_episode, read_episode, write_episode
from chatvla2.sim.baselines import HabitPolicy
from chatvla2.sim.env import SimConfig, TaskEnv
from chatvla2.sim.expert import ExpertPolicy, plan_expert_actions
from chatvla2.sim.tasks.math_cards import sample_math_scene
from chatvla2.train.samples import RobotTrainingSet


@pytest.fixture(scope="module")
def env():
    environment = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=64, image_width_px=64))
    yield environment
    environment.close_renderer()


def seed_with_answer_place(place: int, split: str = "train") -> int:
    return next(s for s in range(10_000) if sample_math_scene(s, split).answer_place == place)


@pytest.fixture(scope="module")
def wrong_card_recovery(env):
    """The habit (first card) drives a scene whose answer is second, up to the grasp, then the expert."""
    seed = seed_with_answer_place(1)
    return seed, record_dagger_episode(env, HabitPolicy(env, place=0), "math", seed, "train", handover=32)


def test_the_expert_recovers_from_the_wrong_card(env, wrong_card_recovery):
    seed, episode = wrong_card_recovery
    assert episode is not None and episode.first_labelled_step == 32
    assert episode.success, "the expert replanned from the wrong card and lifted the answer"
    # the first 32 rows are the habit's record: what the controller executed of its plan towards the
    # first card (the plan, where the safety filter did not limit it), not the answer's
    env.reset("math", seed, "train")
    scene = env.scene
    towards_first = plan_expert_actions(env, scene.cards[0].digit)
    towards_answer = plan_expert_actions(env)
    executed = np.abs(episode.action[:32] - towards_first[:32])
    assert np.mean(executed) < 0.005 and np.max(executed) < 0.05, (np.mean(executed), np.max(executed))
    assert np.abs(episode.action[:32] - towards_answer[:32]).max() > 0.2
    assert len(episode.action) > 32 + 40 and episode.images["front"].shape[0] == len(episode.action)


def test_a_policy_that_succeeds_before_the_handover_leaves_nothing(env):
    assert record_dagger_episode(env, ExpertPolicy(env), "math", 3, "train", handover=64) is None
    with pytest.raises(ValueError, match="at least 1"):
        record_dagger_episode(env, ExpertPolicy(env), "math", 3, "train", handover=0)


def test_training_takes_labels_from_the_handover_only(env, wrong_card_recovery, tmp_path):
    _, episode = wrong_card_recovery
    write_episode(tmp_path / "dagger.hdf5", episode)
    assert check_episode(tmp_path / "dagger.hdf5").first_labelled_step == 32
    assert read_episode(tmp_path / "dagger.hdf5").first_labelled_step == 32
    dataset = RobotTrainingSet(tmp_path, ["front", "wrist"], horizon=16)
    assert len(dataset) == len(dataset.chunks) == len(episode.action) - 32
    assert dataset.chunks.index[0] == (0, 32)
    first = dataset.robot_sample(0)
    np.testing.assert_array_equal(first.state, episode.qpos[32].astype(np.float32))
    np.testing.assert_array_equal(first.actions, episode.action[32:48])
    states, actions = dataset.all_states_and_actions()
    np.testing.assert_array_equal(actions, episode.action[32:])
    assert states.shape[0] == len(episode.action) - 32
    assert dataset.first_frame(0)["front"].tobytes() == episode.images["front"][0].tobytes()  # reset frame
    strided = RobotTrainingSet(tmp_path, ["front", "wrist"], horizon=16, frame_stride=4)
    assert [dataset.chunks.index[p][1] for p in strided.positions][:3] == [32, 36, 40]


def test_a_labelled_step_outside_the_episode_is_an_error(wrong_card_recovery, tmp_path):
    _, episode = wrong_card_recovery
    from dataclasses import replace

    with pytest.raises(ValueError, match="outside the episode"):
        write_episode(tmp_path / "bad.hdf5", replace(episode, first_labelled_step=len(episode.action)))
    assert not (tmp_path / "bad.hdf5").exists()
    path = write_episode(tmp_path / "corrupt.hdf5", episode)
    with h5py.File(path, "a") as f:
        f.attrs["first_labelled_step"] = 10_000
    with pytest.raises(EpisodeFileError, match="first_labelled_step 10000"):
        check_episode(path)


def test_gen_data_records_dagger_episodes_with_the_model(tmp_path, capsys):
    # hand-over after 8 control steps (0.8 s): no model lifts a card that soon, so every scene is
    # written, whatever the shipped model's skill
    code = main(["gen-data", "--task", "math", "--episodes", "2", "--out", str(tmp_path), "--workers", "1",
                 "--image-size", "96", "--seed", "9000", "--dagger-policy", "models/chatvla2-tiny",
                 "--handover-steps", "8"])
    printed = capsys.readouterr().out
    assert code == 0 and "DAgger: 0 of 2 scenes not written" in printed
    paths = sorted(tmp_path.glob("*.hdf5"))
    assert len(paths) == 2 and all(p.name.startswith("dagger_math_train_") for p in paths)
    for path in paths:
        episode = read_episode(path)
        assert episode.first_labelled_step == handover_step(episode.seed, (8,)) == 8
        assert len(episode.action) > episode.first_labelled_step
    assert 8 in HANDOVER_STEPS and {handover_step(seed) for seed in range(200)} == set(HANDOVER_STEPS)


def test_handover_steps_can_be_chosen_and_must_be_positive(tmp_path, capsys):
    assert {handover_step(seed, (40, 48)) for seed in range(50)} == {40, 48}
    with pytest.raises(ValueError, match="positive"):
        handover_step(0, (0, 8))
    assert main(["gen-data", "--task", "math", "--episodes", "1", "--out", str(tmp_path),
                 "--handover-steps", "40"]) == 2
    assert "give a policy" in capsys.readouterr().err
    assert main(["gen-data", "--task", "math", "--episodes", "1", "--out", str(tmp_path),
                 "--dagger-policy", "models/chatvla2-tiny", "--handover-steps", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err


def test_gen_data_dagger_needs_math_answers_and_a_model(tmp_path, capsys):
    assert main(["gen-data", "--task", "placement", "--episodes", "1", "--out", str(tmp_path),
                 "--dagger-policy", "models/chatvla2-tiny"]) == 2
    assert "--dagger-policy records answer-lifting math episodes" in capsys.readouterr().err
    assert main(["gen-data", "--task", "math", "--episodes", "1", "--out", str(tmp_path),
                 "--dagger-policy", str(tmp_path / "missing")]) == 2
    assert "is not a model directory" in capsys.readouterr().err
