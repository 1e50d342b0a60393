"""Action chunks and the three ways to turn a stream of them into one target per control period.

    chunk stamped at t_obs (the observation it answers), rows step_dt_s apart:
        row k is the target for time t_obs + (k + 1) * step_dt_s
    at control time t the chunk's target is interpolated between the rows around t; rows already
    in the past are skipped (latency compensation); before row 0's time the target is row 0; past
    the last row the chunk has nothing to say and the controller holds.

Executors (chosen by `execution_mode`):
    latest    the newest chunk alone (by observation stamp), from the step matching elapsed time
    ensemble  ACT temporal ensembling: every live chunk's target at t, weights exp(-decay * i)
              with i = 0 for the oldest chunk (ACT, Zhao et al. 2023)
    handover  the newest chunk, cross-faded from the previous one over `handover_s`
    rtc       the newest chunk alone, like latest: with real-time chunking on the inference side
              (policy/realtime_chunking.py) each chunk already agrees with the rows executed
              while it was computed, so switching to it needs no blending
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ActionChunk:
    """positions: (H, A) targets ordered as joint_names; stamp_s: time of the observation answered."""

    joint_names: tuple[str, ...]
    positions: np.ndarray
    step_dt_s: float
    stamp_s: float

    def __post_init__(self) -> None:
        if self.positions.ndim != 2 or self.positions.shape[1] != len(self.joint_names):
            raise ValueError(
                f"chunk positions must be (H, {len(self.joint_names)}), got {self.positions.shape}"
            )
        if self.positions.shape[0] == 0:
            raise ValueError("chunk has no steps")
        if not (math.isfinite(self.step_dt_s) and self.step_dt_s > 0.0):
            raise ValueError(f"chunk step_dt_s must be positive and finite, got {self.step_dt_s}")

    @property
    def horizon(self) -> int:
        return self.positions.shape[0]

    @property
    def end_s(self) -> float:
        """Time of the last row."""
        return self.stamp_s + self.horizon * self.step_dt_s

    def row_at(self, now_s: float) -> int | None:
        """Index of the next row not yet due at now_s, or None when the chunk is used up."""
        index = max(0, math.floor((now_s - self.stamp_s) / self.step_dt_s))
        return index if index < self.horizon else None

    def sample(self, now_s: float) -> np.ndarray | None:
        """(A,) target at now_s, linear between rows; None past the last row."""
        if now_s > self.end_s:
            return None
        position = (now_s - self.stamp_s) / self.step_dt_s - 1.0  # fractional row index
        if position <= 0.0:
            return self.positions[0]
        k = min(int(position), self.horizon - 2)
        weight = position - k
        return (1.0 - weight) * self.positions[k] + weight * self.positions[k + 1]


class ChunkExecutor(Protocol):
    """`envelope(now_s)`: per column the (low, high) of every row of the chunks that `target(now_s)`
    blends, so of every target it can return while they last; the safety filter keeps the
    command inside it (a chunk's motion is followed without passing its own targets)."""

    def submit(self, chunk: ActionChunk, now_s: float) -> None: ...
    def target(self, now_s: float) -> np.ndarray | None: ...
    def envelope(self, now_s: float) -> tuple[np.ndarray, np.ndarray] | None: ...
    def clear(self) -> None: ...


def rows_envelope(chunks: list[ActionChunk]) -> tuple[np.ndarray, np.ndarray] | None:
    """(low (A,), high (A,)) over every row of `chunks`; None for no chunk."""
    if not chunks:
        return None
    rows = np.concatenate([chunk.positions for chunk in chunks])  # (sum H, A)
    return rows.min(axis=0), rows.max(axis=0)


class LatestChunkPlayer:
    """Plays the most recent chunk; a newer chunk replaces the old one at once."""

    def __init__(self) -> None:
        self.chunk: ActionChunk | None = None

    def submit(self, chunk: ActionChunk, now_s: float = 0.0) -> None:
        if self.chunk is None or chunk.stamp_s >= self.chunk.stamp_s:
            self.chunk = chunk

    def target(self, now_s: float) -> np.ndarray | None:
        return None if self.chunk is None else self.chunk.sample(now_s)

    def envelope(self, now_s: float) -> tuple[np.ndarray, np.ndarray] | None:
        live = self.chunk is not None and now_s <= self.chunk.end_s
        return rows_envelope([self.chunk] if live else [])

    def clear(self) -> None:
        self.chunk = None


class TemporalEnsembler:
    """ACT's temporal ensembling over every chunk whose time window covers now."""

    def __init__(self, decay: float = 0.01, max_chunks: int = 32) -> None:
        if not decay >= 0.0:
            raise ValueError(f"ensemble_decay must be >= 0, got {decay}")
        self.decay = decay
        self.chunks: deque[ActionChunk] = deque(maxlen=max_chunks)  # oldest first

    def submit(self, chunk: ActionChunk, now_s: float = 0.0) -> None:
        if self.chunks and chunk.stamp_s < self.chunks[-1].stamp_s:
            return  # an out-of-order chunk would break the oldest-first weights
        self.chunks.append(chunk)

    def target(self, now_s: float) -> np.ndarray | None:
        while self.chunks and self.chunks[0].end_s < now_s:
            self.chunks.popleft()
        samples = [s for s in (c.sample(now_s) for c in self.chunks) if s is not None]
        if not samples:
            return None
        weights = np.exp(-self.decay * np.arange(len(samples)))  # (N,) oldest weighs most
        return weights @ np.stack(samples) / weights.sum()  # (A,)

    def envelope(self, now_s: float) -> tuple[np.ndarray, np.ndarray] | None:
        return rows_envelope([chunk for chunk in self.chunks if now_s <= chunk.end_s])

    def clear(self) -> None:
        self.chunks.clear()


class SmoothHandover:
    """The newest chunk, faded in linearly from the previous chunk over handover_s."""

    def __init__(self, handover_s: float = 0.2) -> None:
        if not handover_s > 0.0:
            raise ValueError(f"handover_s must be positive, got {handover_s}")
        self.handover_s = handover_s
        self.current: ActionChunk | None = None
        self.previous: ActionChunk | None = None
        self.switched_at_s = -math.inf

    def submit(self, chunk: ActionChunk, now_s: float) -> None:
        if self.current is not None and chunk.stamp_s < self.current.stamp_s:
            return
        self.previous, self.current, self.switched_at_s = self.current, chunk, now_s

    def target(self, now_s: float) -> np.ndarray | None:
        new = None if self.current is None else self.current.sample(now_s)
        old = None if self.previous is None else self.previous.sample(now_s)
        if new is None or old is None:
            return new
        weight = min(1.0, max(0.0, (now_s - self.switched_at_s) / self.handover_s))
        return (1.0 - weight) * old + weight * new

    def envelope(self, now_s: float) -> tuple[np.ndarray, np.ndarray] | None:
        return rows_envelope([c for c in (self.current, self.previous) if c is not None and now_s <= c.end_s])

    def clear(self) -> None:
        self.current = self.previous = None


EXECUTION_MODES = ("latest", "ensemble", "handover", "rtc")


def make_executor(mode: str, ensemble_decay: float = 0.01, handover_s: float = 0.2) -> ChunkExecutor:
    if mode in ("latest", "rtc"):
        return LatestChunkPlayer()
    if mode == "ensemble":
        return TemporalEnsembler(ensemble_decay)
    if mode == "handover":
        return SmoothHandover(handover_s)
    raise ValueError(f"execution_mode '{mode}' is not one of {EXECUTION_MODES}")
