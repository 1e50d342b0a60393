"""Held-out splits: training never sees an evaluation equation or the card-swap answer slot."""
import numpy as np
from hypothesis import given, settings, strategies as st

from chatvla2.sim import splits
from chatvla2.sim.scenes import REACH_M, ROBOT_BASE_POS_M, sample_scene
from chatvla2.sim.tasks.math_cards import CARD_SLOT_Y_M


def test_equation_splits_are_disjoint_and_cover_everything():
    train, heldout = set(splits.equations_for("train")), set(splits.equations_for("heldout"))
    assert train and heldout and not train & heldout
    assert train | heldout == set(splits.all_equations())
    assert all(0 <= e.result <= 9 for e in train | heldout)
    assert any(e.op == "-" and e.a == 9 for e in heldout) and not any(e.op == "-" and e.a == 9 for e in train)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_sampled_scenes_obey_their_split(seed):
    train, heldout, swap = (sample_scene("math", seed, s) for s in ("train", "heldout", "cardswap"))
    assert not splits.is_heldout_equation(train.equation) and splits.is_heldout_equation(heldout.equation)
    assert not splits.is_heldout_equation(swap.equation)
    assert train.answer_card.slot != splits.CARDSWAP_SLOT and heldout.answer_card.slot != splits.CARDSWAP_SLOT
    assert swap.answer_card.slot == splits.CARDSWAP_SLOT
    digits = [c.digit for c in train.cards]
    assert len(set(digits)) == len(digits) and train.equation.result in digits
    ys = [c.pos_m[1] for c in train.cards]
    assert ys == sorted(ys, reverse=True), "cards are listed left (+y) to right"
    assert abs(ys[0] - CARD_SLOT_Y_M[train.cards[0].slot]) < 0.01
    placement = sample_scene("placement", seed, "train")
    for xy in list(placement.positions_m.values()) + [placement.target_xy_m]:
        assert np.linalg.norm(np.asarray(xy) - ROBOT_BASE_POS_M[:2]) < REACH_M, "layout out of the arm's reach"
    low, high = splits.placement_x_range_m("heldout")
    assert low <= sample_scene("placement", seed, "heldout").positions_m[
        sample_scene("placement", seed, "heldout").reference][0] <= high


def test_reasoning_templates():
    scene = sample_scene("math", 7, "train")
    e = scene.equation
    row = " ".join(str(c.digit) for c in scene.cards)  # left to right
    place = ("first", "second", "third")[[c.digit for c in scene.cards].index(e.result)]
    assert scene.reasoning == (f"the board says {e.text}; {e.text} = {e.result}; the cards say {row}; "
                               f"the card {e.result} is {place} from the left")
    placement = sample_scene("placement", 7, "train")
    assert placement.instruction == f"put the toy to the {placement.relation} of the {placement.reference}"
    assert placement.reasoning.endswith(f"put the toy {placement.relation} of the {placement.reference}")


def test_unknown_split_and_task_are_named():
    import pytest

    with pytest.raises(ValueError, match="unknown split 'test'"):
        sample_scene("math", 0, "test")
    with pytest.raises(ValueError, match="unknown task 'stack'"):
        sample_scene("stack", 0)
    with pytest.raises(ValueError, match="card-swap split exists only for the math task"):
        sample_scene("placement", 0, "cardswap")


def test_reading_boards_are_no_split_equation_and_cover_every_symbol_in_place():
    boards = set(splits.reading_boards())
    assert boards and not boards & set(splits.all_equations())
    assert all(not 0 <= e.result <= 9 or (e.op == "x" and 0 in (e.a, e.b)) for e in boards)
    for position in ("a", "b"):  # every digit appears at both operand places on some reading board
        assert {getattr(e, position) for e in boards} == set(range(10))
    assert {e.op for e in boards} == set(splits.OPERATORS)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_reading_scenes_show_no_task_equation(seed):
    scene = sample_scene("math", seed, splits.READING_SPLIT)
    assert scene.split == splits.READING_SPLIT and scene.equation in splits.reading_boards()
    digits = [c.digit for c in scene.cards]
    assert len(set(digits)) == len(digits) == 3
    ys = [c.pos_m[1] for c in scene.cards]
    assert ys == sorted(ys, reverse=True)
    assert scene == sample_scene("math", seed, splits.READING_SPLIT), "a scene is a function of its seed"
