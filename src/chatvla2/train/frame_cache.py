"""Stage 2's frame embeddings, computed once: the VLM is frozen and the samples carry no random
augmentation, so each training frame's (observation, reasoning) embedding pair is the same on
every visit. Computing it every step spends ~90 % of a tiny stage-2 step in the VLM; with
`data.cache_frame_embeddings: true` the trainer embeds every frame once (a tqdm bar, batches of
`batch_size`), keeps the pairs with the frame's state and action chunk in memory, and each step
only indexes them and runs the head.

Memory: 2 * D floats per frame plus the state and chunk (tiny preset, 16,800 frames: ~26 MB; the
paper preset, D = 1536: 12 kB per frame, so ~12 GB for a million frames; leave the cache off there).
A head that reads tokens (token attention, a target locator) also needs every token's state: kept in float16 with its M-RoPE
position, T * (2 D + 8) bytes per frame (tiny, T ~ 150 prompt and reasoning tokens: ~40 kB, so
~1.3 GB for 33,600 frames).
The file `frame_embeddings.pt` in the run's folder keeps the cache for a resumed run; it is reused
only when it was made from the same model weights, episodes and reasoning texts (a fingerprint).
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from chatvla2.model.action_head import TokenContext
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.train.samples import RobotTrainingSet
from chatvla2.train.stages import frame_embeddings, robot_batch

LOG = logging.getLogger(__name__)
CACHE_FILE = "frame_embeddings.pt"


def fingerprint(model: ChatVLA2Model, dataset: RobotTrainingSet, texts: list[str]) -> str:
    """A digest of the VLM's weights, the episode files (path, size, mtime), the texts and whether
    token states are kept."""
    digest = hashlib.sha256()
    if model.config.action_head.reads_tokens:
        digest.update(b"token states")
    for name, tensor in sorted(model.vlm.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for info in dataset.chunks.episodes:
        stat = Path(info.path).stat()
        digest.update(f"{info.path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(repr(dataset.positions).encode())
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()


CONTEXT_KEYS = ("context_states", "context_positions", "context_reasoning", "context_valid")


def padded(parts: list[torch.Tensor], length: int) -> torch.Tensor:
    """(B_i, T_i, ...) tensors -> (sum B_i, length, ...), zero-padded along T."""
    return torch.cat([F.pad(p, (0, 0) * (p.ndim - 2) + (0, length - p.shape[1])) for p in parts])


class FrameEmbeddings:
    """Per training position: observation (N, D), reasoning (N, D), state (N, S), actions (N, H, A)
    and, for a head that reads tokens, the token context (N, T, ...) in `context` (else None)."""

    def __init__(self, observation: torch.Tensor, reasoning: torch.Tensor, state: torch.Tensor,
                 actions: torch.Tensor, context: dict[str, torch.Tensor] | None = None) -> None:
        self.observation, self.reasoning, self.state, self.actions = observation, reasoning, state, actions
        self.context = context

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> "FrameEmbeddings":
        """From the saved or just built tensors by name (the context ones only if present)."""
        context = {k: tensors[k] for k in CONTEXT_KEYS} if CONTEXT_KEYS[0] in tensors else None
        return cls(tensors["observation"], tensors["reasoning"], tensors["state"], tensors["actions"], context)

    def __len__(self) -> int:
        return self.observation.shape[0]

    def take(self, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                                   TokenContext | None]:
        """The rows at `positions`; their token context trimmed to the longest of them."""
        index = torch.as_tensor(np.asarray(positions, dtype=np.int64))
        context = None
        if self.context is not None:
            valid = self.context["context_valid"][index]
            length = int(valid.sum(dim=1).max())
            context = TokenContext(self.context["context_states"][index, :length].float(),
                                   self.context["context_positions"][index, :length].long(),
                                   self.context["context_reasoning"][index, :length], valid[:, :length])
        return self.observation[index], self.reasoning[index], self.state[index], self.actions[index], context

    @classmethod
    def build(cls, model: ChatVLA2Model, dataset: RobotTrainingSet, reasoning_of_episode: Callable[[int], str],
              batch_size: int = 32, folder: str | Path | None = None,
              show_progress: bool = True) -> "FrameEmbeddings":
        """Embeds every position of `dataset` (reusing `folder/frame_embeddings.pt` when its
        fingerprint matches); episode e's frames are embedded with `reasoning_of_episode(e)`."""
        texts = [reasoning_of_episode(e) for e in tqdm(range(dataset.episode_count), desc="stage 2: own reasoning",
                                                        disable=not show_progress, dynamic_ncols=True, mininterval=2.0)]
        key = fingerprint(model, dataset, texts)
        path = Path(folder) / CACHE_FILE if folder is not None else None
        if path is not None and path.is_file():
            try:
                saved = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as error:  # a torn or foreign file is recomputed, never trusted
                LOG.warning("frame embedding cache %s unreadable (%s): recomputing", path, error)
            else:
                if saved.get("fingerprint") == key:
                    LOG.info("frame embeddings of %d frames reused from %s", saved["observation"].shape[0], path)
                    return cls.from_tensors(saved)
                LOG.info("frame embedding cache %s was made from other weights or data: recomputing", path)
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in ("observation", "reasoning", "state", "actions")
                                                + CONTEXT_KEYS}
        positions = range(len(dataset))
        bar = tqdm(range(0, len(dataset), batch_size), desc="stage 2: embedding frames", disable=not show_progress,
                   dynamic_ncols=True, mininterval=2.0)
        for start in bar:
            samples = [dataset.robot_sample(p) for p in positions[start:start + batch_size]]
            batch, state, actions = robot_batch(model, samples, [texts[s.episode] for s in samples])
            observation, reasoning, context = frame_embeddings(model, batch)
            for name, value in (("observation", observation), ("reasoning", reasoning), ("state", state),
                                ("actions", actions)):
                parts[name].append(value.detach().cpu().float())
            if context is not None:
                parts["context_states"].append(context.states.detach().cpu().half())
                parts["context_positions"].append(context.positions.cpu().to(torch.int16))
                parts["context_reasoning"].append(context.reasoning.cpu())
                parts["context_valid"].append(context.valid.cpu())
        tensors = {name: torch.cat(parts[name]) for name in ("observation", "reasoning", "state", "actions")}
        if parts["context_states"]:
            length = max(p.shape[1] for p in parts["context_states"])
            tensors.update({name: padded(parts[name], length) for name in CONTEXT_KEYS})
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            torch.save({"fingerprint": key, **tensors}, partial)
            partial.replace(path)  # atomic: a crash mid-write leaves no half file under the real name
        return cls.from_tensors(tensors)
