"""Resumable training checkpoints: the model in Hugging Face layout plus the trainer's state.

    <out_dir>/checkpoints/step_000200/
        config.json, model.safetensors, tokenizer*, preprocessor_config.json, action_stats.json
        trainer_state.pt    optimizer (DDP runs), LR scheduler, step, every rank's RNG states,
                            stage-2 reasoning cache
        train_config.yaml   the run's configuration
        distributed/        FSDP runs: model and optimizer shards (torch.distributed.checkpoint),
                            readable at any world size (train/fsdp.py)

A checkpoint directory is written under a temporary name and renamed when complete, so a crash
mid-save never leaves a directory that looks resumable but is not. `latest_checkpoint` returns the
highest complete step.
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

STATE_FILE = "trainer_state.pt"
CONFIG_FILE = "train_config.yaml"


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / "checkpoints" / f"step_{step:06d}"


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def rng_state_of_rank(trainer_state: dict[str, Any], rank: int) -> dict[str, Any] | None:
    """The RNG states rank `rank` saved; None when the saving run had fewer ranks. "rng" holds the
    saving process's (rank 0's), the only one in checkpoints of stage 0 and of older runs."""
    by_rank = trainer_state.get("rng_by_rank") or [trainer_state["rng"]]
    return by_rank[rank] if rank < len(by_rank) else None


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def partial_checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    final = checkpoint_dir(out_dir, step)
    return final.with_name(final.name + ".partial")


def start_checkpoint(out_dir: str | Path, step: int) -> Path:
    """An empty directory to write step `step` into (rank 0; other ranks write into it after a barrier)."""
    partial = partial_checkpoint_dir(out_dir, step)
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return partial


def save_checkpoint(out_dir: str | Path, step: int, model, trainer_state: dict[str, Any],
                    train_config: dict[str, Any], keep: int) -> Path:
    """The whole checkpoint from one process (single process and DDP, on rank 0)."""
    partial = start_checkpoint(out_dir, step)
    model.save_pretrained(partial)
    return finish_checkpoint(partial, step, trainer_state, train_config, keep)


def finish_checkpoint(partial: Path, step: int, trainer_state: dict[str, Any], train_config: dict[str, Any],
                      keep: int) -> Path:
    """Add the trainer state and the config to a written model, make it the step's checkpoint, and
    delete all but the `keep` newest."""
    final = partial.with_name(partial.name.removesuffix(".partial"))
    torch.save({**trainer_state, "step": step, "rng": rng_state()}, partial / STATE_FILE)
    (partial / CONFIG_FILE).write_text(yaml.safe_dump(train_config, sort_keys=False))
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    for old in sorted(final.parent.glob("step_*"))[:-keep]:
        if not old.name.endswith(".partial"):
            shutil.rmtree(old)
    return final


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    root = Path(out_dir) / "checkpoints"
    complete = [p for p in sorted(root.glob("step_*")) if not p.name.endswith(".partial")
                and (p / STATE_FILE).is_file()] if root.is_dir() else []
    return complete[-1] if complete else None


def load_trainer_state(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{directory}' is missing {STATE_FILE}: it is not resumable")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, OSError, EOFError) as error:
        raise ValueError(f"{path} is unreadable: {error}") from None


def resolve_resume(resume: str | None, out_dir: str | Path) -> Path | None:
    """'auto': the latest checkpoint under out_dir (None when there is none); a path: that one."""
    if not resume:
        return None
    if resume == "auto":
        return latest_checkpoint(out_dir)
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"resume checkpoint '{path}' is missing {STATE_FILE}")
    return path
