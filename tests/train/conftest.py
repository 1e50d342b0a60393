"""Small episode and image-text folders for the training tests, written with the real file layout.

The trainer does not care where pixels come from, so the frames are random 64x64 images (the
smallest size the tiny preset's image processor keeps) instead of MuJoCo renders: fast, and the
files go through the same `write_episode` / `write_qa_file` and integrity checks as generated data.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chatvla2.data.episodes import Episode, write_episode
from chatvla2.data.image_text import write_qa_file

JOINTS = ("j1", "j2", "j3", "j4", "j5", "j6", "j7", "fr3_finger_width")


def write_fake_episodes(folder: Path, count: int = 3, length: int = 12, size_px: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        a, b = index + 1, 2
        qpos = rng.normal(size=(length, 8)).astype(np.float32)
        episode = Episode(
            task="math", instruction="pick up the card that shows the answer",
            reasoning=(f"the board says {a} + {b}; {a} + {b} = {a + b}; the cards say {a + b} 0 9; "
                       f"the card {a + b} is first from the left"),
            success=True, seed=index, split="train", control_dt_s=0.1, joint_names=JOINTS,
            qpos=qpos, qvel=np.zeros_like(qpos), action=qpos + 0.1,
            images={"front": rng.integers(0, 255, (length, size_px, size_px, 3), dtype=np.uint8)})
        write_episode(folder / f"math_train_{index:06d}.hdf5", episode)
    return folder


def write_fake_qa(folder: Path, count: int = 2, size_px: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for index in range(count):
        image = rng.integers(0, 255, (size_px, size_px, 3), dtype=np.uint8)
        write_qa_file(folder / f"qa_math_train_{index:06d}.hdf5", "math", index, "train", image,
                      [("what is 1 + 2?", "3"), ("what does the board say?", "1 + 2")])
    return folder


def write_scene_episode(path: Path, seed: int, named_place: int | None = None, size_px: int = 64) -> object:
    """An episode whose seed, split and reasoning are those of the real train-split scene (random
    pixels): what the target locator's ground truth is rebuilt from. `named_place`: a named-card
    episode lifting the card at that place instead of the answer."""
    from chatvla2.sim.tasks.math_cards import math_reasoning, sample_math_scene

    scene = sample_math_scene(seed, "train")
    digits = [c.digit for c in scene.cards]
    named = None if named_place is None else digits[named_place]
    rng = np.random.default_rng(seed)
    qpos = rng.normal(size=(6, 8)).astype(np.float32)
    write_episode(path, Episode(
        task="math", instruction=scene.instruction, reasoning=math_reasoning(scene.equation, digits, named),
        success=True, seed=seed, split="train", control_dt_s=0.1, joint_names=JOINTS, qpos=qpos,
        qvel=np.zeros_like(qpos), action=qpos + 0.1,
        images={"front": rng.integers(0, 255, (6, size_px, size_px, 3), dtype=np.uint8)}))
    return scene


@pytest.fixture
def scene_episode():
    """`write_scene_episode` (tests cannot import conftest in importlib mode)."""
    return write_scene_episode


@pytest.fixture(scope="session")
def train_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train_data")
    return {"episodes": write_fake_episodes(root / "episodes"), "qa": write_fake_qa(root / "qa")}


@pytest.fixture
def tiny_config(train_data):
    """A function (out_dir, **dotted overrides) -> raw config dict for a few-step tiny run."""
    return lambda out_dir, **overrides: _tiny_config(train_data, out_dir, **overrides)


def _tiny_config(train_data, out_dir: Path, **overrides) -> dict:
    raw = {
        "stage": 1, "model": {"preset": "tiny"},
        "data": {"episodes_dir": str(train_data["episodes"]), "image_text_dir": str(train_data["qa"]),
                 "image_text_fraction": 0.5, "cameras": ["front"]},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "steps": 2, "batch_size": 2, "seed": 0, "out_dir": str(out_dir), "checkpoint_every": 1,
        "log_every": 1, "num_threads": 1, "device": "cpu",
    }
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return raw
