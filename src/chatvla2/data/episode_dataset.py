"""Training loader over episode files: one sample per (episode, step) with an action-chunk window.

Every file is checked when the dataset is built (`check_episode`); a truncated or corrupt file is
reported by name (logged, and listed in `skipped`) and never used. Indexable like a
torch Dataset, with no torch import: the training code wraps it in a DataLoader.
"""
from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np

from chatvla2.data.episodes import EpisodeFileError, EpisodeInfo, check_episode

LOG = logging.getLogger(__name__)


def episode_paths(sources) -> list[Path]:
    """Expand directories (their *.hdf5 files, sorted) and keep file paths as given."""
    sources = [sources] if isinstance(sources, (str, Path)) else sources
    paths = []
    for source in map(Path, sources):
        if source.is_dir():
            paths.extend(sorted(source.glob("*.hdf5")))
        else:
            paths.append(source)
    return paths


def check_all(paths, only_successful: bool = False) -> tuple[list[EpisodeInfo], list[tuple[Path, str]]]:
    """(usable episodes, [(path, why skipped)]) with every problem logged by file name."""
    usable, skipped = [], []
    for path in paths:
        try:
            info = check_episode(path)
        except EpisodeFileError as error:
            LOG.warning("skipping episode: %s", error)
            skipped.append((Path(path), str(error)))
            continue
        if only_successful and not info.success:
            skipped.append((info.path, f"{info.path}: the expert failed this episode"))
            continue
        usable.append(info)
    return usable, skipped


class EpisodeChunkDataset:
    """Samples: images {camera: (H, W, 3) uint8}, qpos (8,), actions (H, 8) with action_mask (H,)
    (False where the window ran past the episode's end and the last action was repeated),
    instruction, reasoning, task.

    actions[k] is the target executed at step t + k, the step whose observation is sample t's.
    Steps run from each episode's `first_labelled_step` (0 but for DAgger episodes).
    """

    def __init__(self, sources, chunk_size: int = 16, cameras: tuple[str, ...] | None = None,
                 only_successful: bool = True, tasks: tuple[str, ...] | None = None) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.chunk_size = chunk_size
        self.episodes, self.skipped = check_all(episode_paths(sources), only_successful)
        if tasks is not None:
            self.episodes = [e for e in self.episodes if e.task in tasks]
        self.cameras = cameras
        for info in self.episodes:
            missing = set(cameras or ()) - set(info.cameras)
            if missing:
                raise EpisodeFileError(f"{info.path}: lacks cameras {sorted(missing)}")
        # a DAgger episode's rows before its hand-over are the policy's own, not labels
        self.index = [(i, t) for i, info in enumerate(self.episodes)
                      for t in range(info.first_labelled_step, info.length)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        episode_index, t = self.index[item]
        info = self.episodes[episode_index]
        with h5py.File(info.path, "r") as f:
            actions = f["action"][t:t + self.chunk_size]  # (<=H, 8)
            valid = actions.shape[0]
            pad = np.repeat(actions[-1:], self.chunk_size - valid, axis=0)
            mask = np.arange(self.chunk_size) < valid  # (H,)
            return {
                "images": {c: f[f"observations/images/{c}"][t] for c in (self.cameras or info.cameras)},
                "qpos": f["observations/qpos"][t],
                "actions": np.concatenate([actions, pad]).astype(np.float32),
                "action_mask": mask,
                "instruction": str(f.attrs["instruction"]),
                "reasoning": str(f.attrs["reasoning"]),
                "task": info.task,
            }
