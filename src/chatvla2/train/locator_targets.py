"""Ground truth for the target locator (model/target_locator.py), from the simulator's scenes.

Every math episode file names its scene (seed, split attrs, so `sample_math_scene` rebuilds it) and
its reasoning annotation's last clause names the card the expert lifts ("the card 7 is third from
the left": the answer, or another card in a named-card episode). Per episode this gives:
  - the card's table position, normalised: x (depth) about the slots' line in units of its jitter
    range, y across the table in units of the outer slots' offset; the locator regresses it;
  - the image token its centre falls in: the front camera projected (`front_camera_fraction`),
    then the cell of the crop view of the front camera that holds it (the card strip, where a card
    is largest) or, without one, of the front image; the locator's pointer is trained on it.
A locator whose query is "digit-and-place" is also given the card's digit and place in the row (the
clause's words) as classes. The token's index in the prompt is fixed for a model and a camera rig
(the instruction and the image sizes do not change), so it is found once from the processor's own
layout.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.model.crop_views import parse_crop_views
from chatvla2.model.target_locator import LocatorTarget
from chatvla2.sim.env import SimConfig, front_camera_fraction
from chatvla2.sim.scenes import ORDINALS
from chatvla2.sim.tasks.math_cards import CARD_SLOT_Y_M, CARD_X_M, Card, sample_math_scene
from chatvla2.train.samples import RobotTrainingSet
from chatvla2.train.stages import PLACE_CLAUSE_START

POSITION_CENTRE_M = np.array([CARD_X_M, 0.0])
POSITION_SCALE_M = np.array([0.03, max(abs(y) for y in CARD_SLOT_Y_M)])


def normalised_position(position_m) -> np.ndarray:
    """Table (x, y) in metres -> the locator's normalised units (2,)."""
    return (np.asarray(position_m, dtype=float)[:2] - POSITION_CENTRE_M) / POSITION_SCALE_M


def table_position_m(normalised) -> np.ndarray:
    """The locator's normalised (..., 2) -> table (x, y) in metres."""
    return np.asarray(normalised, dtype=float) * POSITION_SCALE_M + POSITION_CENTRE_M


def named_card(path: str | Path) -> Card:
    """The card an episode file's reasoning annotation names in its last clause."""
    return named_card_and_place(path)[0]


def named_card_and_place(path: str | Path) -> tuple[Card, int]:
    """`named_card` and its place in the row (0 = first from the left), checked against the scene."""
    with h5py.File(path, "r") as f:
        task, seed, split = str(f.attrs["task"]), int(f.attrs["seed"]), str(f.attrs["split"])
        reasoning = str(f.attrs["reasoning"])
    if task != "math":
        raise ValueError(f"'{path}': the target locator is trained on math episodes, not '{task}'")
    if PLACE_CLAUSE_START not in reasoning:
        raise ValueError(f"'{path}': reasoning '{reasoning}' names no card")
    words = reasoning[reasoning.rindex(PLACE_CLAUSE_START) + len(PLACE_CLAUSE_START):].split()
    if len(words) < 3 or words[1] != "is" or words[2] not in ORDINALS:
        raise ValueError(f"'{path}': cannot read the named card from '{reasoning}'")
    cards = sample_math_scene(seed, split).cards
    place = ORDINALS.index(words[2])
    if place >= len(cards) or str(cards[place].digit) != words[0]:
        raise ValueError(f"'{path}': reasoning names card {words[0]} {words[2]}, the scene of seed {seed} "
                         f"({split}) has {[c.digit for c in cards]}")
    return cards[place], place


def image_token_grids(model: ChatVLA2Model, cameras: list[str], instruction: str,
                      image_size_px: tuple[int, int]) -> dict[str, tuple[int, int, int]]:
    """Image name -> (index of its first token in the prompt, rows, columns of merged tokens), as
    the processor lays out one observation of these cameras (crop views included)."""
    height, width = image_size_px
    frames = {camera: np.zeros((height, width, 3), np.uint8) for camera in cameras}
    batch = model.processor(frames, instruction)
    names = sorted(list(cameras) + [v.name for v in model.processor.crop_views if v.camera in cameras])
    is_image = batch["mm_token_type_ids"][0] == 1
    starts = [int(i) for i in torch.nonzero(is_image).flatten() if i == 0 or not is_image[i - 1]]
    merge = model.vlm.config.vision_config.spatial_merge_size
    grids = batch["image_grid_thw"].tolist()
    if len(starts) != len(names) or len(grids) != len(names):
        raise RuntimeError(f"{len(starts)} image token runs and {len(grids)} grids for images {names}")
    return {name: (start, h // merge, w // merge) for name, start, (_, h, w) in zip(names, starts, grids)}


def card_token(card: Card, grids: dict[str, tuple[int, int, int]], crop_boxes: dict[str, tuple],
               sim: SimConfig = SimConfig()) -> int:
    """Prompt index of the image token the card's centre falls in: in a crop view of the front
    camera that holds it, else in the front image; -1 if neither does."""
    row, column = front_camera_fraction(card.pos_m, sim)
    candidates = [(name, box) for name, box in sorted(crop_boxes.items()) if name in grids]
    candidates.append(("front", (0.0, 0.0, 1.0, 1.0)))
    for name, (top, left, bottom, right) in candidates:
        if name in grids and top <= row < bottom and left <= column < right:
            start, rows, columns = grids[name]
            r = int((row - top) / (bottom - top) * rows)
            c = int((column - left) / (right - left) * columns)
            return start + r * columns + c
    return -1


def locator_targets(model: ChatVLA2Model, dataset: RobotTrainingSet) -> LocatorTarget:
    """The ground truth of every training position of `dataset` (its order), from each episode's
    named card: the card's place when the episode starts (the locator says where to go), and for a
    "digit-and-place" locator the card's digit and its place in the row."""
    instruction = dataset.text[0][0]
    first = dataset.first_frame(0)
    if "front" not in first:
        raise ValueError(f"the target locator is supervised through the front camera; the data has {sorted(first)}")
    height, width = first["front"].shape[:2]
    grids = image_token_grids(model, dataset.cameras, instruction, (height, width))
    sim = SimConfig(image_height_px=height, image_width_px=width)
    crop_boxes = {v.name: v.box for v in parse_crop_views(model.config.image_crops) if v.camera == "front"}
    per_episode = []
    for info, (episode_instruction, _) in zip(dataset.chunks.episodes, dataset.text):
        if episode_instruction != instruction:
            raise ValueError(f"'{info.path}': instruction '{episode_instruction}' differs from '{instruction}', "
                             f"so its image tokens may lie elsewhere in the prompt")
        card, place = named_card_and_place(info.path)
        per_episode.append((normalised_position(card.pos_m), card_token(card, grids, crop_boxes, sim),
                            (card.digit, place)))
    episodes = [dataset.chunks.index[dataset.positions[p]][0] for p in range(len(dataset))]
    position = torch.tensor(np.array([per_episode[e][0] for e in episodes]), dtype=torch.float32)
    token = torch.tensor([per_episode[e][1] for e in episodes], dtype=torch.long)
    names = None
    if model.config.action_head.locator_query == "digit-and-place":
        names = torch.tensor([per_episode[e][2] for e in episodes], dtype=torch.long)
    return LocatorTarget(position, token, names)

