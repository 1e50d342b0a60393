"""Episode files, the chunk-window loader and integrity checks, on real simulator recordings."""
import h5py
import numpy as np
import pytest

from chatvla2.control.robot import load_robot_spec
from chatvla2.data.episode_dataset import EpisodeChunkDataset
from chatvla2.data.episodes import EpisodeFileError, check_episode, read_episode, write_episode
from chatvla2.data.recording import record_expert_episode
from chatvla2.sim.env import SimConfig, TaskEnv


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=48, image_width_px=64))
    out = tmp_path_factory.mktemp("episodes")
    episodes = {task: record_expert_episode(env, task, 4, "train") for task in ("math", "placement")}
    env.close_renderer()
    paths = {task: write_episode(out / f"{task}.hdf5", e) for task, e in episodes.items()}
    return out, episodes, paths


def test_round_trip_keeps_the_documented_layout(recorded):
    _, episodes, paths = recorded
    for task, path in paths.items():
        original, loaded = episodes[task], read_episode(path)
        assert loaded.success and loaded.task == task and loaded.instruction == original.instruction
        assert loaded.reasoning == original.reasoning and loaded.control_dt_s == pytest.approx(0.1)
        np.testing.assert_array_equal(loaded.action, original.action)
        with h5py.File(path) as f:
            length = f["action"].shape[0]
            assert f["observations/qpos"].shape == (length, 8) and f["observations/qpos"].dtype == np.float32
            assert f["observations/images/front"].shape == (length, 48, 64, 3)
            assert f["observations/images/wrist"].dtype == np.uint8


def test_actions_lead_the_measured_state(recorded):
    """action[t] is the target after observation t: the next measured qpos moves toward it."""
    _, episodes, _ = recorded
    e = episodes["math"]
    before = np.abs(e.action[:-1, :7] - e.qpos[:-1, :7]).sum()
    after = np.abs(e.action[:-1, :7] - e.qpos[1:, :7]).sum()
    assert after < before


def test_chunk_windows_pad_and_mask_at_the_episode_end(recorded):
    out, episodes, _ = recorded
    dataset = EpisodeChunkDataset(out, chunk_size=16)
    assert not dataset.skipped
    lengths = [info.length for info in dataset.episodes]
    assert len(dataset) == sum(lengths)
    first = dataset[0]
    source = episodes[dataset.episodes[0].task]
    np.testing.assert_array_equal(first["actions"], source.action[:16])
    assert first["action_mask"].all() and first["images"]["front"].shape == (48, 64, 3)
    last = dataset[lengths[0] - 1]
    assert last["action_mask"].tolist() == [True] + [False] * 15
    np.testing.assert_array_equal(last["actions"], np.repeat(source.action[-1:], 16, axis=0))
    assert first["reasoning"] == source.reasoning and first["instruction"] == source.instruction


def test_truncated_and_corrupt_files_are_named_and_skipped(recorded, tmp_path, caplog):
    out, _, paths = recorded
    good = tmp_path / "good.hdf5"
    good.write_bytes(paths["math"].read_bytes())
    truncated = tmp_path / "truncated.hdf5"
    data = paths["placement"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.hdf5"
    garbage.write_bytes(b"not an hdf5 file" * 100)
    with pytest.raises(EpisodeFileError, match="truncated.hdf5"):
        check_episode(truncated)
    dataset = EpisodeChunkDataset(tmp_path)
    assert [info.path.name for info in dataset.episodes] == ["good.hdf5"]
    assert sorted(p.name for p, _ in dataset.skipped) == ["garbage.hdf5", "truncated.hdf5"]
    assert "truncated.hdf5" in caplog.text and "garbage.hdf5" in caplog.text


def test_inconsistent_lengths_are_reported(recorded, tmp_path):
    _, _, paths = recorded
    broken = tmp_path / "broken.hdf5"
    broken.write_bytes(paths["math"].read_bytes())
    with h5py.File(broken, "a") as f:
        del f["observations/qvel"]
        f["observations/qvel"] = np.zeros((3, 8), np.float32)
    with pytest.raises(EpisodeFileError, match=r"broken.hdf5: /observations/qvel has 3 steps"):
        check_episode(broken)
