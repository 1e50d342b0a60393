"""`chatvla2 gen-data` end to end: files written, expert success printed, files load back."""
import numpy as np
import pytest

from chatvla2.cli import main
from chatvla2.data.episode_dataset import EpisodeChunkDataset


def test_gen_data_writes_loadable_episodes(tmp_path, capsys):
    code = main(["gen-data", "--task", "math", "--episodes", "2", "--out", str(tmp_path), "--workers", "1",
                 "--image-size", "48", "--seed", "30"])
    printed = capsys.readouterr().out
    assert code == 0 and "expert success (the answer card lifted): 2/2" in printed and "2 files load back, 0 rejected" in printed
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


def test_named_card_episodes_lift_the_card_their_reasoning_names(tmp_path, capsys):
    from chatvla2.data.episodes import read_episode
    from chatvla2.sim.tasks.math_cards import sample_math_scene
    from chatvla2.train.stages import names_other_card

    code = main(["gen-data", "--task", "math", "--lift", "any-card", "--episodes", "4", "--out", str(tmp_path),
                 "--workers", "1", "--image-size", "48", "--seed", "2000"])
    printed = capsys.readouterr().out
    assert code == 0 and "expert success (the named card lifted): 4/4" in printed
    paths = sorted(tmp_path.glob("*.hdf5"))
    assert [p.name for p in paths] == [f"named_math_train_{s:06d}.hdf5" for s in range(2000, 2004)]
    others = 0
    for path in paths:
        episode = read_episode(path)
        scene = sample_math_scene(episode.seed, "train")
        named = int(episode.reasoning.split("; the card ")[1].split()[0])
        assert episode.reasoning.startswith(scene.reasoning.rsplit("; the card ", 1)[0])
        assert named in [c.digit for c in scene.cards] and episode.success
        others += names_other_card(episode.reasoning)
    # success means the named card alone rose: where it is not the answer, lifting the answer fails it
    assert others >= 2, "seeds 2000-2003 name at least two non-answer cards"


def test_named_card_episodes_need_the_math_task(tmp_path, capsys):
    assert main(["gen-data", "--task", "placement", "--lift", "any-card", "--episodes", "1", "--out", str(tmp_path)]) == 2
    assert "--lift any-card names a card: use it with --task math" in capsys.readouterr().err


def test_answer_place_filter_keeps_the_samplers_scenes_with_that_place():
    from chatvla2.data.commands import seeds_with_answer_place
    from chatvla2.sim.tasks.math_cards import sample_math_scene

    seeds = seeds_with_answer_place("train", 5000, 12, "third")
    assert len(seeds) == 12 and seeds == sorted(set(seeds)) and seeds[0] >= 5000
    for seed in range(5000, seeds[-1] + 1):
        scene = sample_math_scene(seed, "train")
        assert (scene.cards.index(scene.answer_card) == 2) == (seed in seeds)
        assert scene.answer_card.slot != 3
    with pytest.raises(ValueError, match="does not use that place"):
        seeds_with_answer_place("cardswap", 0, 2, "first")


def test_rightmost_card_episodes_lift_the_card_in_the_slot_no_training_answer_holds(tmp_path, capsys):
    from chatvla2.data.commands import seeds_with_rightmost_card
    from chatvla2.data.episodes import read_episode
    from chatvla2.sim.tasks.math_cards import sample_math_scene
    from chatvla2.sim.splits import CARDSWAP_SLOT
    from chatvla2.train.stages import names_other_card

    seeds = seeds_with_rightmost_card("train", 40, 3)
    skipped = [s for s in range(40, seeds[-1]) if s not in seeds]
    assert all(CARDSWAP_SLOT not in [c.slot for c in sample_math_scene(s, "train").cards] for s in skipped)
    code = main(["gen-data", "--task", "math", "--lift", "rightmost-card", "--episodes", "3", "--out", str(tmp_path),
                 "--workers", "1", "--image-size", "48", "--seed", "40"])
    assert code == 0 and "expert success (the named card lifted): 3/3" in capsys.readouterr().out
    paths = sorted(tmp_path.glob("*.hdf5"))
    assert [p.name for p in paths] == [f"named_math_train_{s:06d}.hdf5" for s in seeds]
    for path in paths:
        episode = read_episode(path)
        rightmost = next(c for c in sample_math_scene(episode.seed, "train").cards if c.slot == CARDSWAP_SLOT)
        assert f"the card {rightmost.digit} is " in episode.reasoning and episode.success
        assert names_other_card(episode.reasoning), "a training answer never lies in the rightmost slot"
    assert main(["gen-data", "--task", "math", "--lift", "rightmost-card", "--answer-place", "third",
                 "--episodes", "1", "--out", str(tmp_path)]) == 2
