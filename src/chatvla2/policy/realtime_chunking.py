"""Real-time chunking (RTC) for the DDIM action head: the next chunk agrees with what the arm will
already have executed of the current one by the time it arrives.

Black, Galliker and Levine, "Real-Time Execution of Action Chunking Flow Policies" (Physical
Intelligence, 2025): while a chunk is being computed the arm keeps executing the previous one, so
the first `d` rows of the new chunk (d = the inference delay in control steps) are already decided.
RTC freezes them to the previous chunk's rows and generates the rest consistent with them,
with soft weights over the remaining overlap:

    row j of the new chunk (due at t_obs + (j + 1) dt) is row j + s of the previous chunk, where
    s = round((t_obs - t_prev) / dt) rows of it were due before this observation;
    weight 1 for j < d (frozen), exponentially decaying over d <= j < H - s (overlap), 0 after.

Our head is a DDIM sampler, so the constraint is applied by inpainting: after every denoising
step the predicted clean chunk is replaced by `w * previous + (1 - w) * predicted`
(`NoiseScheduler.ddim_sample(..., inpaint=...)`). We chose replacement over the paper's guidance
(a vector-Jacobian product through the denoiser at every step): replacement costs one blend per
step instead of roughly doubling the head's cost, and the last DDIM step returns the frozen rows
exactly (w = 1), which the paper's guidance only approaches. What replacement gives up: far from
the frozen rows the sample is only pulled toward the previous chunk through the soft weights, not
through the model's own score, so the overlap is continuous by construction but not necessarily
the model's most likely continuation. docs/runtime.md measures both effects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RtcConfig:
    """min/max_delay_steps bound the delay estimated from the measured inference latency (control
    steps of the chunk's step_dt_s); the floor also covers delay the runtime cannot see (transport,
    the controller's actuation latency). max_first_jump_rad mirrors the controller's gate (its
    `max_first_jump_rad`): when the previous chunk's row due next is further than this from the
    measured joints, the arm is not executing that chunk (the controller rejected it or holds), and
    freezing its rows would only get the next chunk rejected too, so nothing is frozen."""

    min_delay_steps: int = 1
    max_delay_steps: int = 8
    max_first_jump_rad: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.min_delay_steps <= self.max_delay_steps:
            raise ValueError(f"rtc delay bounds must satisfy 0 <= min ({self.min_delay_steps}) <= "
                             f"max ({self.max_delay_steps})")
        if not self.max_first_jump_rad > 0.0:
            raise ValueError(f"rtc max_first_jump_rad must be positive, got {self.max_first_jump_rad}")


@dataclass(frozen=True)
class InpaintingGuide:
    """target (H, A): the previous chunk's rows aligned to the new chunk's times (physical units,
    rows past its end repeat nothing: their weight is 0); weights (H,) in [0, 1]; delay_steps d."""

    target: np.ndarray
    weights: np.ndarray
    delay_steps: int

    @property
    def frozen_rows(self) -> int:
        return int(np.count_nonzero(self.weights == 1.0))


def delay_steps(latency_s: float, step_dt_s: float, config: RtcConfig) -> int:
    """The rows that will have been executed when a chunk computed in `latency_s` arrives."""
    steps = math.ceil(latency_s / step_dt_s - 1e-9) if math.isfinite(latency_s) else config.max_delay_steps
    return int(min(max(steps, config.min_delay_steps), config.max_delay_steps))


def soft_weights(horizon: int, delay: int, offset: int) -> np.ndarray:
    """(H,) RTC's soft mask: 1 on the frozen rows, c e^(c - 1)... decaying to 0 where the previous
    chunk ends (row H - offset), with c = (H - offset - j) / (H - offset - d + 1) (the paper's eq. 5)."""
    weights = np.zeros(horizon)
    overlap_end = horizon - offset  # rows j >= this have no previous-chunk row
    for j in range(min(delay, overlap_end)):
        weights[j] = 1.0
    for j in range(delay, overlap_end):
        c = (overlap_end - j) / (overlap_end - delay + 1)
        weights[j] = c * (math.exp(c) - 1.0) / (math.e - 1.0)
    return weights


def inpainting_guide(previous: np.ndarray, previous_stamp_s: float, stamp_s: float, step_dt_s: float,
                     delay: int) -> InpaintingGuide | None:
    """previous (H, A): the chunk being executed, answering the observation at previous_stamp_s.
    None when it has nothing left to say at the new observation's time (or is from the future)."""
    horizon = previous.shape[0]
    offset = round((stamp_s - previous_stamp_s) / step_dt_s)
    if offset < 0 or offset >= horizon:
        return None
    target = np.zeros_like(previous)
    target[: horizon - offset] = previous[offset:]
    return InpaintingGuide(target, soft_weights(horizon, delay, offset), delay)
