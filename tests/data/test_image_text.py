"""Image-text QA files for stage-1 co-training, in the same checked loader framework."""
import pytest

from chatvla2.control.robot import load_robot_spec
from chatvla2.data.episodes import EpisodeFileError
from chatvla2.data.image_text import ImageTextDataset, check_qa_file, record_qa, scene_questions
from chatvla2.sim.env import SimConfig, TaskEnv
from chatvla2.sim.scenes import sample_scene


def test_questions_answer_from_the_scene():
    scene = sample_scene("math", 9, "train")
    pairs = dict(scene_questions(scene))
    e = scene.equation
    assert pairs["what does the board say?"] == e.text and pairs[f"what is {e.text}?"] == str(e.result)
    ordinal = scene.reasoning.split(" is ")[-1].removesuffix(" from the left")
    assert pairs[f"which card shows {e.result}?"] == f"the {ordinal} from the left"
    assert pairs["what numbers are on the cards, left to right?"] == " ".join(str(c.digit) for c in scene.cards)
    placement = sample_scene("placement", 9, "train")
    side = dict(scene_questions(placement))["is the toy left or right of the cup?"]
    toy_y, cup_y = placement.positions_m["toy"][1], placement.positions_m["cup"][1]
    assert side == ("left" if toy_y > cup_y else "right")


def test_reading_boards_ask_to_read_but_not_to_compute():
    scene = sample_scene("math", 3, "reading")
    pairs = dict(scene_questions(scene))
    assert pairs["what does the board say?"] == scene.equation.text
    assert not any(q.startswith("what is") for q in pairs)
    assert {pairs[f"which card shows {c.digit}?"] for c in scene.cards} == {
        "the first from the left", "the second from the left", "the third from the left"}


def test_arithmetic_facts_cover_every_equation_in_the_reasoning_form():
    from chatvla2.data.image_text import arithmetic_pairs
    from chatvla2.sim import splits

    facts = dict(arithmetic_pairs())
    assert len(facts) == len(splits.all_equations())
    for e in splits.all_equations():
        assert facts[f"what is the answer to {e.text}?"] == f"{e.text} = {e.result}"


def test_card_place_lookups_cover_every_row_and_place_equally():
    from collections import Counter

    import itertools

    from chatvla2.data.image_text import card_place_pair, card_rows

    assert sorted(card_rows(False) + card_rows(True)) == list(itertools.permutations(range(10), 3))
    pairs = [card_place_pair(row, place) for row in card_rows(False) + card_rows(True) for place in range(3)]
    assert len(pairs) == 10 * 9 * 8 * 3 and len(dict(pairs)) == len(pairs)
    places = Counter(answer.split(" is ")[1] for _, answer in pairs)
    assert set(places.values()) == {720}, places  # no place more frequent than another
    for question, answer in pairs:
        row = question.removeprefix("the cards say ").split(";")[0].split()
        digit = question.removesuffix("?").split()[-1]
        assert answer == f"the card {digit} is {('first', 'second', 'third')[row.index(digit)]} from the left"


def test_dataset_serves_rendered_qa_and_skips_bad_files(tmp_path):
    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=64, image_width_px=64))
    paths = [record_qa(env, task, 1, "train", tmp_path) for task in ("math", "placement")]
    env.close_renderer()
    (tmp_path / "cut.hdf5").write_bytes(paths[0].read_bytes()[:2000])
    dataset = ImageTextDataset(tmp_path)
    assert [p.name for p, _ in dataset.skipped] == ["cut.hdf5"]
    assert len(dataset) == sum(len(check_qa_file(p)) for p in paths)
    sample = dataset[0]
    assert sample["images"]["front"].shape == (64, 64, 3) and sample["images"]["front"].std() > 10
    assert sample["question"] and sample["answer"]
    with pytest.raises(EpisodeFileError, match="cut.hdf5"):
        check_qa_file(tmp_path / "cut.hdf5")


def test_reasoning_from_text_is_the_robots_reasoning_word_for_word():
    import itertools
    from collections import Counter

    from chatvla2.data.image_text import reasoning_text_pairs
    from chatvla2.sim.tasks.math_cards import math_reasoning
    from chatvla2.sim.splits import all_equations

    pairs = reasoning_text_pairs(3000)
    by_text = {e.text: e for e in all_equations()}
    rows = list(itertools.permutations(range(10), 3))
    places = Counter()
    for question, answer in pairs:
        board = question.removeprefix("the board says ").split(" and ")[0]
        digits = [int(d) for d in question.split("the cards say ")[1].split(";")[0].split()]
        assert answer == math_reasoning(by_text[board], digits)
        assert rows.index(tuple(digits)) % 5 != 0, "training facts never use the probe's rows"
        places[answer.split(" is ")[-1]] += 1
    assert min(places.values()) > 900, places  # about 1000 each: no place habit to pick up
    held = reasoning_text_pairs(50, heldout_rows=True)
    assert all(rows.index(tuple(int(d) for d in q.split("the cards say ")[1].split(";")[0].split())) % 5 == 0
               for q, _ in held)
