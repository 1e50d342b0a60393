"""Appearance families: training and open-world parts are disjoint, training data never draws the
open-world part, and the open-world evaluation splits change only the look of a held-out scene."""
from __future__ import annotations

import numpy as np
import pytest

from chatvla2.sim import appearance
from chatvla2.sim.appearance import DEFAULT, FAMILIES, OPEN_WORLD, OPEN_WORLD_SPLITS, TRAINING
from chatvla2.sim.scenes import sample_scene
from chatvla2.sim.textures import FONTS, text_image


def values(family, part):
    return {tuple(sorted(value.items())) for value in FAMILIES[family].parts[part]}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_has_disjoint_parts_and_the_default_look_is_training(family):
    assert values(family, TRAINING) and values(family, OPEN_WORLD)
    assert values(family, TRAINING).isdisjoint(values(family, OPEN_WORLD))
    default = tuple(sorted({field: getattr(DEFAULT, field) for field in FAMILIES[family].fields}.items()))
    assert default in values(family, TRAINING), "the shipped model's look must be a training value"
    for value in FAMILIES[family].parts[OPEN_WORLD]:  # no open-world value shares a field value with training
        for field, setting in value.items():
            assert all(setting != other[field] for other in FAMILIES[family].parts[TRAINING]), (family, field)
    if family == "font":
        assert {v["font"] for part in (TRAINING, OPEN_WORLD) for v in FAMILIES[family].parts[part]} <= set(FONTS)


def test_training_draws_never_reach_the_open_world_part():
    rng = np.random.default_rng(0)
    for _ in range(300):
        look = appearance.training_appearance(rng)
        for name, family in FAMILIES.items():
            drawn = tuple(sorted({field: getattr(look, field) for field in family.fields}.items()))
            assert drawn in values(name, TRAINING), (name, drawn)


def test_training_data_generators_refuse_open_world_splits(tmp_path):
    from chatvla2.control.robot import load_robot_spec
    from chatvla2.data.image_text import record_qa
    from chatvla2.data.recording import record_expert_episode
    from chatvla2.sim.env import SimConfig, TaskEnv

    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=32, image_width_px=32))
    for split in OPEN_WORLD_SPLITS:
        with pytest.raises(ValueError, match="for evaluation only"):
            record_expert_episode(env, "math", 0, split)
        with pytest.raises(ValueError, match="for evaluation only"):
            record_qa(env, "math", 0, split, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_open_world_split_is_a_held_out_scene_in_an_unseen_look():
    for seed in range(20):
        heldout = sample_scene("math", seed, "heldout")
        font = sample_scene("math", seed, "openworld-font")
        assert (font.equation, font.cards, font.split) == (heldout.equation, heldout.cards, "openworld-font")
        assert heldout.appearance == DEFAULT
        assert font.appearance.font in {v["font"] for v in FAMILIES["font"].parts[OPEN_WORLD]}
        assert font.appearance.light == DEFAULT.light and font.appearance.ink_rgb == DEFAULT.ink_rgb
        everything = sample_scene("math", seed, "openworld").appearance
        for name, family in FAMILIES.items():
            drawn = tuple(sorted({field: getattr(everything, field) for field in family.fields}.items()))
            assert drawn in values(name, OPEN_WORLD), name
        assert sample_scene("math", seed, "openworld") == sample_scene("math", seed, "openworld")


def test_truetype_and_hershey_faces_draw_the_text_centred():
    for font in FONTS:
        image = text_image("7", 128, 128, ink_rgb=(0, 0, 0), paper_rgb=(255, 255, 255), fill=0.9, font=font)
        ink = np.argwhere(image.min(axis=2) < 128)
        assert len(ink) > 200, font
        centre = (ink.min(axis=0) + ink.max(axis=0)) / 2  # of the glyph's box
        assert np.all(np.abs(centre - 63.5) < 16), (font, centre)  # Hershey sits 14 px low (the shipped look)
    assert not np.array_equal(text_image("3 + 4 = ?", 512, 256), text_image("3 + 4 = ?", 512, 256, font="dejavu_serif"))
    with pytest.raises(ValueError, match="unknown font 'comic'"):
        text_image("7", 64, 64, font="comic")


def test_the_simulator_renders_an_open_world_scene_differently_and_the_expert_still_solves_it():
    from chatvla2.control.robot import load_robot_spec
    from chatvla2.sim.env import SimConfig, TaskEnv
    from chatvla2.sim.expert import plan_expert_actions

    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=96, image_width_px=96))
    try:
        env.reset("math", 3, "heldout")
        plain = env.render("front")
        env.reset("math", 3, "openworld")
        unseen = env.render("front")
        assert np.abs(plain.astype(int) - unseen.astype(int)).mean() > 5.0
        for action in plan_expert_actions(env):
            env.step(action)
        assert env.outcome()[0], env.outcome()
    finally:
        env.close_renderer()
