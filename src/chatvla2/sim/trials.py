"""Scoring the demo's closed-loop trials in the MuJoCo scene: plain Python, no ROS.

`chatvla2 run --trials N` (ros/stack.py) runs one fresh stack per scene and asks this module what
the scene's ground truth is, when a trial is over, what its verdict is, and for the PNG strip.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chatvla2.sim.contact_sheet import contact_sheet, save_png
from chatvla2.sim.episode import episode_over


def ground_truth(scene) -> str:
    """What a reader should expect: the board, its answer and the cards (math), else the instruction."""
    board = getattr(scene, "equation", None)
    if board is None:
        return scene.instruction
    return (f"board shows '{board.text} = ?', answer {board.result}, cards "
            f"{[c.digit for c in scene.cards]} left to right")


def trial_over(scene, outcome: tuple[bool, str], time_s: float, limit_s: float) -> bool:
    """Success, a failure with no way back (math: a wrong card lifted), or the simulated time is up."""
    success, reason = outcome
    return episode_over(scene, success, reason) or time_s >= limit_s


@dataclass
class TrialResult:
    seed: int
    success: bool
    reason: str  # the simulator's ground-truth outcome
    elapsed_s: float  # simulated
    reasonings: list[str]

    @property
    def verdict(self) -> str:
        return "PICKED THE RIGHT CARD" if self.success else "did not pick the right card"


def save_strip(result: TrialResult, scene, frames: list[np.ndarray], path: Path, most: int = 10) -> Path | None:
    """At most `most` frames, evenly spread from the first to the last (the outcome), captioned."""
    if not frames:
        return None
    picks = np.unique(np.linspace(0, len(frames) - 1, min(most, len(frames))).round().astype(int))
    board = getattr(scene, "equation", None)
    board_text = f"{board.text} = ? -> {board.result}" if board else scene.instruction
    caption = (f"seed {result.seed} | {board_text} | {'SUCCESS' if result.success else 'failure'}: "
               f"{result.reason} | reasoning: {result.reasonings[-1] if result.reasonings else 'none'}")
    return save_png(contact_sheet([[frames[i] for i in picks]], [caption]), path)


def summary_line(results: list[TrialResult]) -> str:
    return f"{sum(r.success for r in results)}/{len(results)} trials picked the right card"
