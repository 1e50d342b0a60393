"""When to regenerate the reasoning: a new instruction, every K frames, or a changed scene.

Autoregressive reasoning is the slow part of the model (tens of tokens, one forward pass each), so
the runtime regenerates it only when it may have become wrong, and every frame in between reuses
the latest reasoning embedding. This module holds only that decision: plain NumPy, no model, no
threads. It never asks for a refresh less often than every `refresh_every_frames` frames;
`refresh_every_frames=0` asks only when an instruction arrives (and on a scene change, if that
test is on): the reasoning the action head was trained with, made once from the task's first frame.

    frame:        0    1    2   ...  K    K+1  ...      j (scene moved)   ...
    refresh:   instr   -    -   ...  K    -    ...      scene             ...
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

# The scene is compared on a coarse grey thumbnail: cheap (< 0.1 ms at 320x240), and blind to
# sensor noise that would otherwise trigger a refresh on every frame.
THUMBNAIL_STRIDE_PX = 8


class RefreshReason(enum.Enum):
    NEW_INSTRUCTION = "new_instruction"
    PERIODIC = "periodic"
    SCENE_CHANGE = "scene_change"


@dataclass(frozen=True)
class ReasoningScheduleConfig:
    """refresh_every_frames: K, regenerate at least every K frames (1: every frame, the paper's way;
    0: no periodic refresh, only a new instruction or a scene change).
    scene_change_threshold: mean absolute difference of the grey thumbnail, as a fraction of full
    scale (0..1), above which the scene counts as changed; 0 or less disables the test."""

    refresh_every_frames: int = 30
    scene_change_threshold: float = 0.08

    def __post_init__(self) -> None:
        if self.refresh_every_frames < 0:
            raise ValueError(f"refresh_every_frames must be >= 0 (0: only on a new instruction), "
                             f"got {self.refresh_every_frames}")


def scene_thumbnail(images: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) float32 grey levels in [0, 1] of every camera, strided; cameras in name order."""
    parts = []
    for name in sorted(images):
        frame = images[name][::THUMBNAIL_STRIDE_PX, ::THUMBNAIL_STRIDE_PX]  # (h, w, 3) uint8
        parts.append(frame.mean(axis=2, dtype=np.float32).ravel() / 255.0)  # (h * w,)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


class ReasoningScheduler:
    """Decides, frame by frame, whether the reasoning must be regenerated, and why."""

    def __init__(self, config: ReasoningScheduleConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self.instruction: str | None = None
        self.frames_since_refresh = 0
        self.reference_thumbnail: np.ndarray | None = None

    def scene_change(self, thumbnail: np.ndarray) -> float:
        """Mean absolute grey difference to the scene the current reasoning was made from."""
        if self.reference_thumbnail is None or self.reference_thumbnail.shape != thumbnail.shape:
            return float("inf")
        return float(np.mean(np.abs(thumbnail - self.reference_thumbnail)))

    def decide(self, instruction: str, images: dict[str, np.ndarray]) -> RefreshReason | None:
        """Call once per frame; a non-None answer means: regenerate from this frame.

        The scheduler assumes the caller acts on every non-None answer (it restarts its count and
        takes this frame's scene as the new reference)."""
        thumbnail = scene_thumbnail(images)
        reason = None
        if instruction != self.instruction:
            reason = RefreshReason.NEW_INSTRUCTION
        elif 0 < self.config.refresh_every_frames <= self.frames_since_refresh + 1:
            reason = RefreshReason.PERIODIC
        elif (self.config.scene_change_threshold > 0.0
              and self.scene_change(thumbnail) > self.config.scene_change_threshold):
            reason = RefreshReason.SCENE_CHANGE
        if reason is None:
            self.frames_since_refresh += 1
        else:
            self.instruction = instruction
            self.frames_since_refresh = 0
            self.reference_thumbnail = thumbnail
        return reason
