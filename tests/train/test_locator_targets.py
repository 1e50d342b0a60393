"""The target locator's ground truth: the front camera's projection agrees with MuJoCo's own
render, the named card is read from the annotation and checked against the rebuilt scene, and the
card's token is where the processor puts that part of the image."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.sim.env import SimConfig, TaskEnv, front_camera_fraction
from chatvla2.sim.tasks.math_cards import sample_math_scene
from chatvla2.train.locator_targets import (card_token, image_token_grids, named_card, normalised_position,
                                            table_position_m)


def test_front_camera_projection_lands_on_each_card_in_mujocos_segmentation_render():
    import mujoco

    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=224, image_width_px=160))
    for seed in (3, 11):
        env.reset("math", seed, "train")
        mujoco.mj_forward(env.model, env.data)
        env.renderer.enable_segmentation_rendering()
        try:
            env.renderer.update_scene(env.data, camera="front")
            segmentation = env.renderer.render()  # (H, W, 2): object id, object type
        finally:
            env.renderer.disable_segmentation_rendering()
        for card in env.scene.cards:
            row, column = front_camera_fraction(card.pos_m, env.config)
            geom = segmentation[int(row * 224), int(column * 160), 0]
            assert env.model.body(env.model.geom_bodyid[geom]).name == f"card{card.digit}"
    with pytest.raises(ValueError, match="behind the front camera"):
        front_camera_fraction((-1.0, 0.0, 0.6))


def test_named_card_is_the_annotations_last_clause_checked_against_the_scene(tmp_path, scene_episode):
    answer_scene = scene_episode(tmp_path / "a.hdf5", 4)
    assert named_card(tmp_path / "a.hdf5") == answer_scene.answer_card
    named_scene = scene_episode(tmp_path / "n.hdf5", 4, named_place=2)
    assert named_card(tmp_path / "n.hdf5") == named_scene.cards[2]
    episode_of_other_seed = scene_episode(tmp_path / "x.hdf5", 5)
    import h5py

    with h5py.File(tmp_path / "x.hdf5", "r+") as f:  # the reasoning of seed 5 filed under seed 4
        f.attrs["seed"] = 4
    if [c.digit for c in episode_of_other_seed.cards] != [c.digit for c in answer_scene.cards]:
        with pytest.raises(ValueError, match="the scene of seed 4"):
            named_card(tmp_path / "x.hdf5")
    position = normalised_position(answer_scene.answer_card.pos_m)
    assert np.all(np.abs(position) <= 1.0 + 1e-9)
    assert np.allclose(table_position_m(position), answer_scene.answer_card.pos_m[:2])


def test_card_token_is_the_processor_cell_that_holds_the_card():
    model = ChatVLA2Model.from_pretrained("models/chatvla2-tiny")
    grids = image_token_grids(model, ["front", "wrist"], "pick up the card that shows the answer", (224, 224))
    assert set(grids) == {"front", "front_cards", "wrist"}
    frames = {camera: np.zeros((224, 224, 3), np.uint8) for camera in ("front", "wrist")}
    batch = model.processor(frames, "pick up the card that shows the answer")
    image_token = int(torch.as_tensor(batch["input_ids"][0][batch["mm_token_type_ids"][0] == 1][0]))
    boxes = {view.name: view.box for view in model.processor.crop_views}
    crop_start, rows, columns = grids["front_cards"]
    columns_seen = []
    for seed in range(12):
        for card in sample_math_scene(seed, "train").cards:
            index = card_token(card, grids, boxes, SimConfig())
            assert crop_start <= index < crop_start + rows * columns  # the card strip holds every card
            assert int(batch["input_ids"][0][index]) == image_token
            columns_seen.append(((index - crop_start) % columns, card.slot))
    # left to right in the image is left to right on the table: a slot further right, a column further right
    by_slot = {slot: [c for c, s in columns_seen if s == slot] for slot in range(4)}
    assert max(by_slot[0]) < min(by_slot[1]) and max(by_slot[1]) < min(by_slot[2]) and max(by_slot[2]) < min(by_slot[3])
    assert card_token(sample_math_scene(0, "train").cards[0], {"wrist": (0, 6, 6)}, {}, SimConfig()) == -1
