"""Training samples: robot action-chunk windows and image-text QA pairs, from the data loaders.

Robot samples come from `chatvla2.data.episode_dataset.EpisodeChunkDataset` (one per episode
frame t: images at t, qpos[t], the chunk action[t : t + H] padded with the last action past the
end, instruction, reasoning; a DAgger episode's frames from its first labelled step on),
image-text samples from `chatvla2.data.image_text.ImageTextDataset`. Both validate their files once and skip a bad file by name. This module adds what training needs
on top: which episode a sample belongs to (stage 2 keys the model's own reasoning by episode), an
episode's first frame, and every state/action row for the normalisation statistics.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from chatvla2.data.episode_dataset import EpisodeChunkDataset
from chatvla2.data.image_text import ImageTextDataset, arithmetic_pairs, reasoning_text_pairs


@dataclass
class RobotSample:
    images: dict[str, np.ndarray]  # camera -> (H, W, 3) uint8
    instruction: str
    reasoning: str
    state: np.ndarray  # (S,) float32 qpos at t
    actions: np.ndarray  # (H, A) float32 absolute targets
    episode: int  # index of the episode in the dataset


@dataclass
class TextSample:
    images: dict[str, np.ndarray]
    question: str
    answer: str


class RobotTrainingSet:
    """(episode, frame) samples of every usable episode file in one or more folders."""

    def __init__(self, episodes_dir: str | Path | list[str | Path], cameras: list[str], horizon: int,
                 frame_stride: int = 1) -> None:
        roots = [Path(d) for d in ([episodes_dir] if isinstance(episodes_dir, (str, Path)) else episodes_dir)]
        for root in roots:
            if not root.is_dir():
                raise FileNotFoundError(f"episode folder '{root}' does not exist: generate it with "
                                        f"`chatvla2 gen-data --task math --out {root} ...`")
        self.chunks = EpisodeChunkDataset(roots, chunk_size=horizon, cameras=tuple(cameras), only_successful=True)
        if not self.chunks.episodes:
            names = ", ".join(f"'{r}'" for r in roots)
            raise ValueError(f"episode folder(s) {names} hold no usable episode ({len(self.chunks.skipped)} skipped)")
        self.cameras = list(cameras)
        first = [info.first_labelled_step for info in self.chunks.episodes]  # the index starts there
        self.positions = [i for i, (e, t) in enumerate(self.chunks.index) if (t - first[e]) % frame_stride == 0]
        self.text: list[tuple[str, str]] = []  # (instruction, reasoning) per episode
        for info in self.chunks.episodes:
            with h5py.File(info.path, "r") as f:
                self.text.append((str(f.attrs["instruction"]), str(f.attrs["reasoning"])))

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def episode_count(self) -> int:
        return len(self.chunks.episodes)

    def robot_sample(self, position: int) -> RobotSample:
        item = self.positions[position]
        raw = self.chunks[item]
        episode = self.chunks.index[item][0]
        return RobotSample(raw["images"], raw["instruction"], raw["reasoning"],
                           np.asarray(raw["qpos"], np.float32), raw["actions"], episode)

    def first_frame(self, episode: int) -> dict[str, np.ndarray]:
        with h5py.File(self.chunks.episodes[episode].path, "r") as f:
            return {c: f[f"observations/images/{c}"][0] for c in self.cameras}

    def all_states_and_actions(self) -> tuple[np.ndarray, np.ndarray]:
        """Every labelled row of qpos (N, S) and action (N, A): the normalisation statistics' input."""
        states, actions = [], []
        for info in self.chunks.episodes:
            with h5py.File(info.path, "r") as f:
                states.append(f["observations/qpos"][info.first_labelled_step:])
                actions.append(f["action"][info.first_labelled_step:])
        return np.concatenate(states), np.concatenate(actions)


class QATrainingSet:
    """QA pairs of every usable file in one or more folders."""

    def __init__(self, directories: str | Path | list[str | Path], questions: list[str] | None = None) -> None:
        roots = [Path(d) for d in ([directories] if isinstance(directories, (str, Path)) else directories)]
        for root in roots:
            if not root.is_dir():
                raise FileNotFoundError(f"image-text folder '{root}' does not exist: generate it with "
                                        f"`chatvla2 gen-data --task qa --out {root} ...`")
        self.pairs = ImageTextDataset(roots)
        names = ", ".join(f"'{r}'" for r in roots)
        if not len(self.pairs):
            raise ValueError(f"image-text folder(s) {names} hold no usable QA file ({len(self.pairs.skipped)} skipped)")
        self.positions = list(range(len(self.pairs)))
        if questions is not None:
            wanted = set(questions)
            self.positions = [i for i, question in enumerate(self.pairs.questions) if question in wanted]
            if not self.positions:
                raise ValueError(f"no image-text pair in {names} asks any of {questions}")

    def __len__(self) -> int:
        return len(self.positions)

    def text_sample(self, position: int) -> TextSample:
        raw = self.pairs[self.positions[position]]
        return TextSample(raw["images"], raw["question"], raw["answer"])


ARITHMETIC = [TextSample({}, question, answer) for question, answer in arithmetic_pairs()]
REASONING_TEXT = [TextSample({}, question, answer) for question, answer in reasoning_text_pairs()]
TEXT_FACTS = ARITHMETIC + REASONING_TEXT  # text-only samples; a negative sample position -k-1 names fact k
