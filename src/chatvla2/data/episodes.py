"""Episode files: one HDF5 per episode in the ACT/DexVLA layout (see docs/simulation.md).

    attrs: task, instruction, reasoning, success, seed, split, control_dt_s, joint_names (JSON),
           first_labelled_step (optional, default 0)
    /observations/qpos             (T, 8) float32   measured joints + gripper opening (m)
    /observations/qvel             (T, 8) float32
    /observations/images/<camera>  (T, H, W, 3) uint8 RGB
    /action                        (T, 8) float32   absolute targets + gripper opening (m)

A DAgger episode (`chatvla2.data.dagger`) starts with a learned policy's own steps and hands over to
the expert at `first_labelled_step`: the earlier rows are a true record of what happened (the
policy's targets in /action), and training takes action labels only from that step on.

Files are written under a temporary name and renamed when complete, so a crash never leaves a
half-written file under a real episode name. `check_episode` reads every dataset's last row, so a
truncated or corrupt file is reported by name instead of being used.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

REQUIRED_ATTRS = ("task", "instruction", "reasoning", "success", "seed", "split", "control_dt_s",
                  "joint_names")


class EpisodeFileError(ValueError):
    """An episode file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Episode:
    task: str
    instruction: str
    reasoning: str
    success: bool
    seed: int
    split: str
    control_dt_s: float
    joint_names: tuple[str, ...]
    qpos: np.ndarray  # (T, 8) float32
    qvel: np.ndarray  # (T, 8) float32
    images: dict[str, np.ndarray]  # camera -> (T, H, W, 3) uint8
    action: np.ndarray  # (T, 8) float32
    first_labelled_step: int = 0  # rows before it were a policy's, not the expert's (DAgger)


@dataclass(frozen=True)
class EpisodeInfo:
    """What the loader needs to index an episode without reading its frames."""

    path: Path
    length: int
    task: str
    success: bool
    split: str
    cameras: tuple[str, ...]
    first_labelled_step: int = 0


def write_episode(path: str | Path, episode: Episode) -> Path:
    path = Path(path)
    length = episode.action.shape[0]
    arrays = {"qpos": episode.qpos, "qvel": episode.qvel, "action": episode.action}
    for name, array in arrays.items():
        if array.shape != (length, len(episode.joint_names)):
            raise ValueError(f"episode {name} has shape {array.shape}, expected ({length}, "
                             f"{len(episode.joint_names)})")
    if not 0 <= episode.first_labelled_step < length:
        raise ValueError(f"first_labelled_step {episode.first_labelled_step} is outside the episode's "
                         f"{length} steps")
    partial = path.with_name(path.name + ".partial")
    with h5py.File(partial, "w") as f:
        for key in REQUIRED_ATTRS:
            value = getattr(episode, key)
            f.attrs[key] = json.dumps(list(value)) if key == "joint_names" else value
        f.attrs["first_labelled_step"] = int(episode.first_labelled_step)
        f.create_dataset("observations/qpos", data=episode.qpos.astype(np.float32))
        f.create_dataset("observations/qvel", data=episode.qvel.astype(np.float32))
        f.create_dataset("action", data=episode.action.astype(np.float32))
        for camera, frames in episode.images.items():
            if frames.shape[0] != length or frames.ndim != 4 or frames.dtype != np.uint8:
                raise ValueError(f"camera '{camera}' frames must be ({length}, H, W, 3) uint8, "
                                 f"got {frames.shape} {frames.dtype}")
            f.create_dataset(f"observations/images/{camera}", data=frames,
                             chunks=(1, *frames.shape[1:]), compression="gzip", compression_opts=1)
    os.replace(partial, path)
    return path


def check_episode(path: str | Path) -> EpisodeInfo:
    """Validate an episode file end to end; raises EpisodeFileError naming the file and the fault."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            missing = [key for key in REQUIRED_ATTRS if key not in f.attrs]
            if missing:
                raise EpisodeFileError(f"{path}: missing attrs {missing}")
            joint_count = len(json.loads(f.attrs["joint_names"]))
            for name in ("observations/qpos", "observations/qvel", "action"):
                if name not in f:
                    raise EpisodeFileError(f"{path}: missing dataset /{name}")
            length = f["action"].shape[0]
            if length == 0:
                raise EpisodeFileError(f"{path}: the episode has no steps")
            cameras = tuple(f["observations/images"].keys()) if "observations/images" in f else ()
            if not cameras:
                raise EpisodeFileError(f"{path}: no camera images under /observations/images")
            datasets = ["observations/qpos", "observations/qvel", "action"] + [
                f"observations/images/{c}" for c in cameras]
            for name in datasets:
                data = f[name]
                if data.shape[0] != length:
                    raise EpisodeFileError(f"{path}: /{name} has {data.shape[0]} steps, /action has {length}")
                if name.startswith("observations/images") and (data.ndim != 4 or data.shape[3] != 3
                                                                or data.dtype != np.uint8):
                    raise EpisodeFileError(f"{path}: /{name} must be (T, H, W, 3) uint8, got "
                                           f"{data.shape} {data.dtype}")
                if not name.startswith("observations/images") and data.shape[1:] != (joint_count,):
                    raise EpisodeFileError(f"{path}: /{name} has rows of {data.shape[1:]}, expected "
                                           f"{joint_count} joints")
                row = data[length - 1]  # reading the last row exposes truncated or corrupt storage
                if not name.startswith("observations/images") and not np.all(np.isfinite(row)):
                    raise EpisodeFileError(f"{path}: /{name} holds non-finite values")
            first_labelled = int(f.attrs.get("first_labelled_step", 0))
            if not 0 <= first_labelled < length:
                raise EpisodeFileError(f"{path}: first_labelled_step {first_labelled} is outside its "
                                       f"{length} steps")
            return EpisodeInfo(path=path, length=int(length), task=str(f.attrs["task"]),
                               success=bool(f.attrs["success"]), split=str(f.attrs["split"]),
                               cameras=cameras, first_labelled_step=first_labelled)
    except EpisodeFileError:
        raise
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as error:
        raise EpisodeFileError(f"{path}: unreadable episode file ({error})") from None


def read_episode(path: str | Path) -> Episode:
    check_episode(path)
    with h5py.File(path, "r") as f:
        attrs = {key: f.attrs[key] for key in REQUIRED_ATTRS}
        return Episode(
            task=str(attrs["task"]), instruction=str(attrs["instruction"]), reasoning=str(attrs["reasoning"]),
            success=bool(attrs["success"]), seed=int(attrs["seed"]), split=str(attrs["split"]),
            control_dt_s=float(attrs["control_dt_s"]), joint_names=tuple(json.loads(attrs["joint_names"])),
            qpos=f["observations/qpos"][()], qvel=f["observations/qvel"][()], action=f["action"][()],
            images={c: f[f"observations/images/{c}"][()] for c in f["observations/images"]},
            first_labelled_step=int(f.attrs.get("first_labelled_step", 0)))
