"""Stage 0: the procedural reading data and the dense base's training loop (resume, final layout)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from chatvla2.data.reading_scenes import (KINDS, PATCH_MULTIPLE, SimFramePool,
                                          board_equations, make_sample)
from chatvla2.sim import splits
from chatvla2.sim.scenes import ORDINALS


@pytest.fixture(scope="module")
def pool():
    return SimFramePool.render(range(3))


def test_samples_are_a_pure_function_of_kind_and_seed(pool):
    for kind in KINDS:
        first, again = make_sample(kind, 17, pool), make_sample(kind, 17, pool)
        assert (first.question, first.answer) == (again.question, again.answer)
        if first.image is not None:
            np.testing.assert_array_equal(first.image, again.image)
    assert make_sample("row", 1).answer != make_sample("row", 2).answer or \
        not np.array_equal(make_sample("row", 1).image, make_sample("row", 2).image)


def test_images_keep_the_patch_grid_and_the_pixel_budget(pool):
    for kind in ("single", "row", "board", "sim"):
        for seed in range(40):
            image = make_sample(kind, seed, pool).image
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            height, width = image.shape[:2]
            assert height % PATCH_MULTIPLE == 0 and width % PATCH_MULTIPLE == 0, (kind, image.shape)
            assert height * width <= 84 * 84, (kind, image.shape)


def test_no_board_shows_a_heldout_task_equation(pool):
    heldout = {e.text for e in splits.equations_for("heldout")}
    assert not heldout & {e.text for e in board_equations()}
    shown = {make_sample("board", seed).answer for seed in range(600)}
    shown |= {make_sample("sim", seed, pool).answer for seed in range(200)}
    assert not heldout & shown


def test_row_answers_agree_with_each_other():
    """Every row question is about the same left-to-right digits: ordinals and counts match."""
    for seed in range(300):
        sample = make_sample("row", seed)
        if sample.question.startswith("which card shows"):
            assert sample.answer.startswith("the ") and sample.answer.split()[1] in ORDINALS
        elif sample.question.startswith("what numbers"):
            digits = sample.answer.split()
            assert 2 <= len(digits) <= 4 and len(set(digits)) == len(digits)
        elif sample.question.startswith("how many"):
            assert sample.answer in {"2", "3", "4"}


def test_sim_row_view_holds_the_scene_cards(pool):
    seen = [make_sample("sim", seed, pool) for seed in range(60)]
    rows = [s for s in seen if s.question.startswith("what numbers")]
    assert rows and all(s.image.shape == (42, 168, 3) for s in rows)
    assert {s.answer for s in rows} <= {" ".join(map(str, d)) for d in pool.digits}
    # the cards are in the view: it holds white card pixels, the table around it does not
    assert all((s.image.min(axis=2) > 200).sum() > 30 for s in rows)


def test_pretrain_resumes_and_leaves_a_plain_transformers_directory(tmp_path):
    from transformers import PreTrainedTokenizerFast, Qwen2VLForConditionalGeneration

    from chatvla2.train.metrics import read_metrics
    from chatvla2.train.pretrain import PretrainConfig, pretrain

    common = dict(out_dir=str(tmp_path), batch_size=4, warmup_steps=2, sim_pool_scenes=2, probe_samples=2,
                  probe_every=3, checkpoint_every=3, log_every=1, num_threads=1, tower_steps=2)
    stopped = pretrain(PretrainConfig(steps=6, max_minutes=0.0, **common), show_progress=False)
    assert stopped.name == "step_000001", "max_minutes 0 stops after the first step, with a checkpoint"
    final = pretrain(PretrainConfig(steps=6, **common), resume="auto", show_progress=False)
    steps = [row["step"] for row in read_metrics(tmp_path / "metrics.jsonl") if "loss" in row]
    assert steps == [1, 2, 3, 4, 5, 6], "the resumed run continues at step 2, it does not restart"
    logged = read_metrics(tmp_path / "metrics.jsonl")
    assert [row["step"] for row in logged if "probe_tower_single" in row] == [2], "the tower phase is probed at its end"
    assert [row["step"] for row in logged if "probe_row" in row] == [3, 6], "then the language model's answers"
    assert (tmp_path / "curves.png").stat().st_size > 1000
    model = Qwen2VLForConditionalGeneration.from_pretrained(final)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(final)
    assert model.config.vision_config.patch_size == 7
    assert tokenizer.decode(tokenizer("the card 7 is second from the left").input_ids) == "the card 7 is second from the left"
    probe = json.loads((final / "probe.json").read_text())
    from chatvla2.train.pretrain import PROBE_KINDS

    assert set(probe) == {f"probe_{kind}" for kind in PROBE_KINDS} >= {"probe_sim_board", "probe_sim_which"}



def test_lookups_speak_the_reasoning_and_hold_out_every_fifth_row():
    import itertools

    from chatvla2.data.reading_scenes import HELDOUT_SEED_BASE

    rows = list(itertools.permutations(range(10), 3))
    heldout_rows = {row for index, row in enumerate(rows) if index % 5 == 0}
    for seed, heldout in ((11, False), (12, False), (HELDOUT_SEED_BASE + 1, True), (HELDOUT_SEED_BASE + 2, True)):
        sample = make_sample("lookup", seed)
        row = tuple(int(d) for d in sample.question.removeprefix("the cards say ").split(";")[0].split())
        digit = int(sample.question.removesuffix("?").split()[-1])
        assert sample.image is None and (row in heldout_rows) == heldout, (seed, row)
        assert sample.answer == f"the card {digit} is {ORDINALS[row.index(digit)]} from the left"


def test_pretrain_continues_an_existing_base(tmp_path):
    """`init_from`: the continuation starts from the base's weights, not from a fresh model."""
    import torch
    from transformers import Qwen2VLForConditionalGeneration

    from chatvla2.train.pretrain import PretrainConfig, pretrain

    base = tmp_path.parent / "base_for_continuation"
    common = dict(batch_size=2, warmup_steps=1, sim_pool_scenes=2, probe_samples=1, probe_every=10,
                  checkpoint_every=10, log_every=1, num_threads=1)
    # Another seed than the continuation's: a fresh build there would not reproduce these weights.
    pretrain(PretrainConfig(out_dir=str(base), steps=1, tower_steps=0, seed=7, **common), show_progress=False)
    start = Qwen2VLForConditionalGeneration.from_pretrained(base / "final")
    continued = pretrain(PretrainConfig(out_dir=str(tmp_path / "b"), steps=1, tower_steps=0, lr=1e-9,
                                        init_from=str(base / "final"),
                                        curriculum={0.0: {"lookup": 1.0}}, **common), show_progress=False)
    after = Qwen2VLForConditionalGeneration.from_pretrained(continued)
    name = "model.language_model.embed_tokens.weight"
    torch.testing.assert_close(after.state_dict()[name], start.state_dict()[name], rtol=0, atol=1e-6)
