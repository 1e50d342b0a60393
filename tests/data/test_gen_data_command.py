"""`chatvla2 gen-data` end to end: files written, expert success printed, files load back."""
import numpy as np

from chatvla2.cli import main
from chatvla2.data.episode_dataset import EpisodeChunkDataset


def test_gen_data_writes_loadable_episodes(tmp_path, capsys):
    code = main(["gen-data", "--task", "math", "--episodes", "2", "--out", str(tmp_path), "--workers", "1",
                 "--image-size", "48", "--seed", "30"])
    printed = capsys.readouterr().out
    assert code == 0 and "expert success: 2/2" in printed and "2 files load back, 0 rejected" in printed
    assert sorted(p.name for p in tmp_path.glob("*.hdf5")) == ["math_train_000030.hdf5", "math_train_000031.hdf5"]
    dataset = EpisodeChunkDataset(tmp_path)
    assert len(dataset.episodes) == 2 and np.isfinite(dataset[5]["actions"]).all()


def test_gen_data_reading_split_is_for_image_text_only(tmp_path, capsys):
    assert main(["gen-data", "--task", "math", "--split", "reading", "--episodes", "1", "--out", str(tmp_path)]) == 2
    assert "--split reading holds image-text boards only" in capsys.readouterr().err
    assert main(["gen-data", "--task", "qa", "--split", "reading", "--episodes", "2", "--out", str(tmp_path),
                 "--workers", "1", "--image-size", "48"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.hdf5")) == ["qa_math_reading_000000.hdf5",
                                                                 "qa_math_reading_000001.hdf5"]
