"""Appearance families: how a scene looks, apart from what is in it.

Each family has a training part and an open-world part, disjoint by construction (a test checks
it): the training part is all any training data may draw (robot episodes, image-text data, the
base's pretraining), the open-world part is drawn only by the evaluation splits named after it.
  font    the typeface of the board and the cards
  colour  ink, board paper and card colours
  light   the scene light's direction and strength
  camera  the front camera's pose, moved a few cm and degrees
An `Appearance` holds one value of each; `DEFAULT` is the look every scene had before the
families existed (the shipped model's training data), and it belongs to every training part.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

TRAINING, OPEN_WORLD = "train", "openworld"


@dataclass(frozen=True)
class Appearance:
    font: str = "hershey_simplex"  # a key of textures.FONTS
    ink_rgb: tuple[int, int, int] = (20, 20, 20)
    paper_rgb: tuple[int, int, int] = (245, 245, 240)  # the board
    card_rgb: tuple[int, int, int] = (245, 245, 240)  # the cards' face
    light: tuple[float, tuple[float, float, float]] = (0.5, (0.0, 0.0, -1.0))  # diffuse, direction
    camera_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)  # front camera position shift
    camera_target_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)  # where it looks, shifted


DEFAULT = Appearance()


@dataclass(frozen=True)
class Family:
    """One appearance family: the `Appearance` fields it sets and its two disjoint parts, each a
    tuple of values (one value = a dict of those fields)."""
    fields: tuple[str, ...]
    parts: dict[str, tuple[dict, ...]]

    def draw(self, rng: np.random.Generator, part: str) -> dict:
        values = self.parts[part]
        return values[int(rng.integers(len(values)))]


def _colours(*rows) -> tuple[dict, ...]:
    return tuple(dict(ink_rgb=ink, paper_rgb=paper, card_rgb=card) for ink, paper, card in rows)


FAMILIES: dict[str, Family] = {
    "font": Family(("font",), {
        TRAINING: ({"font": "hershey_simplex"}, {"font": "hershey_duplex"}),
        OPEN_WORLD: ({"font": "dejavu_serif"}, {"font": "dejavu_sans_bold_oblique"}, {"font": "hershey_script"}),
    }),
    "colour": Family(("ink_rgb", "paper_rgb", "card_rgb"), {
        TRAINING: _colours(((20, 20, 20), (245, 245, 240), (245, 245, 240)),
                           ((40, 40, 60), (235, 235, 235), (230, 230, 225))),
        OPEN_WORLD: _colours(((30, 60, 170), (250, 240, 190), (215, 230, 250)),  # blue on yellow, blue cards
                             ((160, 30, 30), (225, 240, 225), (250, 225, 225)),  # red on green, pink cards
                             ((235, 235, 235), (45, 50, 60), (60, 60, 70))),  # chalk on a dark board
    }),
    "light": Family(("light",), {
        TRAINING: ({"light": (0.5, (0.0, 0.0, -1.0))}, {"light": (0.6, (0.0, 0.0, -1.0))}),
        OPEN_WORLD: ({"light": (0.15, (0.0, 0.0, -1.0))},  # dim
                     {"light": (0.9, (0.6, -0.5, -0.6))},  # bright, from the side
                     {"light": (0.5, (-0.7, 0.6, -0.4))}),  # from behind the camera, low
    }),
    "camera": Family(("camera_offset_m", "camera_target_offset_m"), {
        TRAINING: ({"camera_offset_m": (0.0, 0.0, 0.0), "camera_target_offset_m": (0.0, 0.0, 0.0)},),
        OPEN_WORLD: ({"camera_offset_m": (0.0, 0.03, 0.0), "camera_target_offset_m": (0.0, 0.03, 0.0)},
                     {"camera_offset_m": (0.0, -0.03, 0.02), "camera_target_offset_m": (0.0, 0.0, -0.02)},
                     {"camera_offset_m": (0.03, 0.0, -0.02), "camera_target_offset_m": (0.0, -0.02, 0.0)}),
    }),
}

# Evaluation splits: which families take their open-world part (every other family keeps DEFAULT).
OPEN_WORLD_SPLITS: dict[str, tuple[str, ...]] = {
    **{f"openworld-{name}": (name,) for name in FAMILIES},
    "openworld": tuple(FAMILIES),
}


def is_open_world(split: str) -> bool:
    return split in OPEN_WORLD_SPLITS


def appearance_for(split: str, seed: int) -> Appearance:
    """The look of the scene (split, seed): DEFAULT, or for an open-world split one value of each
    of its families' open-world part, drawn from the seed."""
    if not is_open_world(split):
        return DEFAULT
    rng = np.random.default_rng([seed, 7])
    fields: dict = {}
    for name in OPEN_WORLD_SPLITS[split]:
        fields.update(FAMILIES[name].draw(rng, OPEN_WORLD))
    return replace(DEFAULT, **fields)


def training_appearance(rng: np.random.Generator, families=tuple(FAMILIES)) -> Appearance:
    """A look for training data: each named family's value drawn from its training part only."""
    fields: dict = {}
    for name in families:
        fields.update(FAMILIES[name].draw(rng, TRAINING))
    return replace(DEFAULT, **fields)


def refuse_open_world_for_training(split: str) -> None:
    """Training data generators call this: open-world splits are for evaluation only."""
    if is_open_world(split):
        raise ValueError(f"split '{split}' is open-world: it is for evaluation only, and no training data "
                         "may draw it (use train, or heldout for held-out checks)")
