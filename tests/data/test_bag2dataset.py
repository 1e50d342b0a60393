"""bag2dataset: recorded bags become episodes the training loader accepts."""
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from chatvla2.control.robot import load_robot_spec
from chatvla2.data.bag2dataset import episodes_from_recording
from chatvla2.data.bag_reader import read_stack_bag
from chatvla2.data.episode_dataset import EpisodeChunkDataset
from chatvla2.data.episodes import check_episode, read_episode

FIXTURE = Path(__file__).parent / "sim_stack_bag"


def test_fixture_bag_converts_to_a_loadable_episode(tmp_path):
    out = tmp_path / "episodes"
    result = subprocess.run([sys.executable, "-m", "chatvla2.cli", "bag2dataset", str(FIXTURE), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (path,) = sorted(out.glob("*.hdf5"))
    info = check_episode(path)
    episode = read_episode(path)
    recording = read_stack_bag(FIXTURE)
    assert info.cameras == ("front",) and info.length >= len(recording.frames["front"]) - 3
    assert episode.images["front"].shape[1:] == (72, 96, 3) and episode.task == "math"
    assert episode.instruction == recording.instructions[0].text and "placeholder policy" in episode.reasoning
    assert 0.15 < episode.control_dt_s < 0.3  # the camera runs at 5 Hz
    # actions are the controller's commands: they lead the measured state the arm then reaches
    np.testing.assert_allclose(episode.action[:-1, 0], episode.qpos[1:, 0], atol=0.05)
    with h5py.File(path) as f:
        assert f.attrs["action_source"] == "commands"
    dataset = EpisodeChunkDataset(out, chunk_size=16)
    sample = dataset[0]
    assert len(dataset) == info.length and sample["actions"].shape == (16, 8)
    assert sample["images"]["front"].dtype == np.uint8


def test_each_instruction_starts_an_episode_and_bad_frames_are_dropped(tmp_path, bags):
    late = [(topic, kind, t + 5.0, msg) for topic, kind, t, msg in bags.good_messages(6)[1:]]
    for _, _, t, msg in late:  # shift header stamps too
        msg.header.stamp.sec += 5
    messages = bags.good_messages(6) + [("/chatvla/instruction", "std_msgs/msg/String", 5.5,
                                    bags.T["std_msgs/msg/String"](data="put the cube on the plate"))] + late
    messages.append(("/cameras/front/image_raw", "sensor_msgs/msg/Image", 7.3, bags.image(7.3, "yuv422")))
    recording = read_stack_bag(bags.write_bag(tmp_path / "bag", messages))
    episodes = episodes_from_recording(recording, load_robot_spec("franka_fr3"))
    assert [e.instruction for e in episodes] == ["add 3 + 4", "put the cube on the plate"]
    # only the bag's very last frame lacks a following command to serve as its action
    assert [len(e.qpos) for e in episodes] == [6, 5]
    assert any("yuv422" in str(p) for p in recording.problems)


def test_bag2dataset_output_trains_one_step_unchanged(tmp_path):
    """Lab data fine-tunes the model: converted episodes go straight into the trainer."""
    import torch

    from chatvla2.train.config import config_from_dict
    from chatvla2.train.trainer import Trainer

    out = tmp_path / "episodes"
    result = subprocess.run([sys.executable, "-m", "chatvla2.cli", "bag2dataset", str(FIXTURE), "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    config = config_from_dict({
        "stage": 1, "model": {"preset": "tiny"},
        "data": {"episodes_dir": str(out), "image_text_fraction": 0.0, "cameras": ["front"]},
        "optim": {"lr": 1e-3, "warmup_steps": 1}, "steps": 1, "batch_size": 2, "seed": 0,
        "out_dir": str(tmp_path / "run"), "log_every": 1, "num_threads": 1, "device": "cpu",
    })
    trainer = Trainer(config, show_progress=False)
    head_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if n.startswith("head.")}
    values = trainer.train_step(1)
    assert all(np.isfinite(v) for v in values.values()), values
    assert values["diffusion_loss"] > 0 and values["lm_loss"] > 0  # the bag's reasoning is a target
    assert any(not torch.equal(p, head_before[n]) for n, p in trainer.model.named_parameters() if n in head_before)
