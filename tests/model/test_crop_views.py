"""Region-of-interest views: cut from the source camera, fed as an extra image, kept with the model."""
import numpy as np
import pytest

from chatvla2.model.crop_views import CropView, parse_crop_views, with_crop_views

CARDS = {"front_cards": {"camera": "front", "box": [0.5, 0.25, 0.75, 0.75], "size": [112, 56]}}


def test_a_view_is_the_box_of_its_camera_resized():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[120:180, 80:240] = 200  # exactly the box: rows 0.5-0.75, columns 0.25-0.75
    frame[150, 160] = (255, 200, 200)  # a marker at the box centre
    (view,) = parse_crop_views(CARDS)
    out = view.apply(frame)
    assert out.shape == (56, 112, 3) and out.dtype == np.uint8
    assert out[2:-2, 2:-2, 1:].min() == 200  # nothing from outside the box
    red = np.argwhere(out[..., 0] > 205)
    assert red.size and abs(red[:, 0].mean() - 28) <= 2 and abs(red[:, 1].mean() - 56) <= 2


def test_views_join_the_observation_only_when_their_camera_is_there():
    views = parse_crop_views(CARDS)
    frame = np.full((224, 224, 3), 9, np.uint8)
    assert sorted(with_crop_views({"front": frame, "wrist": frame}, views)) == ["front", "front_cards", "wrist"]
    assert sorted(with_crop_views({"wrist": frame}, views)) == ["wrist"]
    assert with_crop_views({}, views) == {}
    with pytest.raises(ValueError, match="name of a camera"):
        with_crop_views({"front": frame, "front_cards": frame}, views)


@pytest.mark.parametrize("spec, match", [
    ({"v": {"camera": "front", "box": [0.6, 0.1, 0.5, 0.9], "size": [56, 56]}}, "top < bottom"),
    ({"v": {"camera": "front", "box": [0.1, 0.1, 0.5, 1.2], "size": [56, 56]}}, "left < right <= 1"),
    ({"v": {"camera": "front", "box": [0.1, 0.1, 0.5], "size": [56, 56]}}, "4 fractions"),
    ({"v": {"camera": "front", "box": [0.1, 0.1, 0.5, 0.9], "size": [8, 56]}}, "at least 28"),
    ({"v": {"camera": "front", "box": [0.1, 0.1, 0.5, 0.9]}}, "expected keys"),
])
def test_a_malformed_view_is_named(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_crop_views(spec)
    from chatvla2.model.config import ChatVLA2Config, preset

    with pytest.raises(ValueError, match=match):  # a config.json with such a view does not load
        ChatVLA2Config.from_dict({**preset("tiny").to_dict(), "image_crops": spec})


def test_the_model_feeds_its_views_and_keeps_them_on_save(images, tmp_path):
    from chatvla2.model.chatvla2 import ChatVLA2Model

    plain = ChatVLA2Model.from_preset("tiny", image_crops={})
    cropped = ChatVLA2Model.from_preset("tiny", image_crops=CARDS)
    assert cropped.processor.crop_views == (CropView("front_cards", "front", (0.5, 0.25, 0.75, 0.75), (112, 56)),)
    grids = [m.processor.encode(images, "pick the card").image_grid_thw.tolist() for m in (plain, cropped)]
    assert len(grids[1]) == len(grids[0]) + 1 and grids[1][1] == [1, 8, 16]  # front, front_cards 56x112 in 7 px patches, wrist
    ids = np.array(cropped.processor.encode(images, "pick the card").input_ids)
    assert (ids == cropped.processor.image_pad_id).sum() == sum(t * h * w // 4 for t, h, w in grids[1])
    cropped.save_pretrained(tmp_path)
    loaded = ChatVLA2Model.from_pretrained(tmp_path)
    assert loaded.config.image_crops == CARDS and loaded.processor.crop_views == cropped.processor.crop_views
    assert ChatVLA2Model.from_preset("tiny", image_crops={}).processor.crop_views == ()  # the views belong to one model
