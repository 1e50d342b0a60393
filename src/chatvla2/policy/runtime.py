"""The two-rate policy runtime: fresh action chunk every frame, reasoning refreshed asynchronously.

    frames   : |f0      |f1 |f2 |f3 |f4 |f5 |f6 |f7 ...     one `infer` call each, ~30 Hz
    act      : |[wait]a0|a1 |a2 |a3 |a4 |a5 |a6 |a7 ...     encode this frame + denoise a chunk
    reasoning: |r(f0)---|   |   |r(f3)-------|   |   ...     background thread, a few Hz
                 ^ new instruction: the first chunk waits for reasoning about *this* task;
                   later refreshes (every K frames, scene change) run behind, and chunks use the
                   newest finished reasoning embedding meanwhile.

`mode="sync"` reasons then acts in the same call and never starts a thread; by default it reasons
on every frame (the paper's evaluation mode), and with another schedule (e.g.
`refresh_every_frames=0`: once per instruction) it reuses its last reasoning on the frames in
between, as async mode does. The runtime is a `Policy` (`infer(observation) -> PolicyOutput`,
`reset()`), so nodes, replay and benchmarks all call it the same way. It never returns a chunk with a non-finite value:
a NaN/Inf from the model raises `ModelOutputError` and the caller publishes nothing for that frame.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from chatvla2.control.joint_order import columns_by_name
from chatvla2.policy.interface import Observation, PolicyOutput
from chatvla2.policy.realtime_chunking import InpaintingGuide, RtcConfig, delay_steps, inpainting_guide
from chatvla2.policy.reasoning_scheduler import (ReasoningScheduleConfig, ReasoningScheduler,
                                                 RefreshReason)


class ModelOutputError(ValueError):
    """The model produced something that must not reach the arm (NaN/Inf, wrong shape)."""


class TwoRateModel(Protocol):
    """What the runtime needs from a model: a per-frame encoding, slow reasoning, fast acting.

    `encode(observation, keep_cache=True)` keeps what `reason` decodes from (the prompt's KV cache);
    the per-frame path asks for no cache.

    `encode` and `act` run on every frame; `reason` runs on a background thread at the same time,
    so an implementation must not mutate state shared between calls (copy cached prefixes)."""

    joint_names: tuple[str, ...]
    step_dt_s: float

    def encode(self, observation: Observation, keep_cache: bool = False) -> Any: ...

    def reason(self, encoded: Any, max_new_tokens: int) -> tuple[str, Any]: ...

    def act(self, encoded: Any, reasoning: Any, observation: Observation,
            inpaint: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class RuntimeConfig:
    """mode: 'async' (two rates) or 'sync' (reason then act in one call).
    schedule: when the reasoning is regenerated; None picks the mode's default: sync every frame
    (refresh_every_frames=1, no scene test), async every 30 frames or on a scene change.
    max_reasoning_tokens: tokens generated per reasoning refresh.
    first_reasoning_timeout_s: how long the first chunk of a new instruction waits for reasoning.
    rtc: real-time chunking (policy/realtime_chunking.py) when set: each chunk is denoised with
    the rows the arm executes while it is computed frozen to the previous chunk's."""

    mode: Literal["async", "sync"] = "async"
    max_reasoning_tokens: int = 48
    first_reasoning_timeout_s: float = 30.0
    schedule: ReasoningScheduleConfig | None = None
    rtc: RtcConfig | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("async", "sync"):
            raise ValueError(f"runtime mode must be 'async' or 'sync', got {self.mode!r}")
        if self.schedule is None:
            default = (ReasoningScheduleConfig(refresh_every_frames=1, scene_change_threshold=0.0)
                       if self.mode == "sync" else ReasoningScheduleConfig())
            object.__setattr__(self, "schedule", default)
        if self.max_reasoning_tokens < 1:
            raise ValueError(f"max_reasoning_tokens must be >= 1, got {self.max_reasoning_tokens}")


@dataclass(frozen=True)
class FinishedReasoning:
    """One finished reasoning: its text, the model's encoding of it (what `reason` returned, for
    `act`), and what it was made from."""

    text: str
    embedding: Any
    instruction: str
    stamp_s: float
    why: RefreshReason
    duration_s: float


class ReasoningWorker:
    """One background thread that turns the newest requested observation into a `FinishedReasoning`.

    A request made while one is running replaces any waiting one: only the newest scene matters."""

    def __init__(self, model: TwoRateModel, max_new_tokens: int) -> None:
        self.model, self.max_new_tokens = model, max_new_tokens
        self.changed = threading.Condition()
        self.pending: tuple[Observation, RefreshReason] | None = None
        self.latest: FinishedReasoning | None = None
        self.error: BaseException | None = None
        self.busy = False
        self.finished = 0
        self.epoch = 0  # bumped by forget(): a reasoning begun before it is dropped, never served
        self.stopping = False
        self.thread: threading.Thread | None = None

    def request(self, observation: Observation, why: RefreshReason) -> None:
        with self.changed:
            self.pending = (observation, why)
            if not self.busy and not self.stopping:
                # A thread per burst of requests, not one parked forever: on CPU, a parked thread
                # that has used torch keeps its OpenMP team, which measurably slowed every frame
                # of the per-frame path (docs/runtime.md).
                self.busy = True
                self.thread = threading.Thread(target=self.loop, name="reasoning", daemon=True)
                self.thread.start()

    def forget(self) -> None:
        with self.changed:
            self.pending, self.latest, self.error = None, None, None
            self.epoch += 1

    def wait_for(self, instruction: str, timeout_s: float) -> FinishedReasoning:
        """Block until a reasoning about `instruction` exists; raise the worker's error if it failed."""
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                if self.error is not None:
                    error, self.error = self.error, None
                    raise RuntimeError(f"reasoning generation failed: {error!r}") from error
                if self.latest is not None and self.latest.instruction == instruction:
                    return self.latest
                remaining = deadline - time.monotonic()
                if remaining <= 0.0:
                    raise TimeoutError(f"no reasoning for instruction {instruction!r} "
                                       f"within {timeout_s:.1f} s")
                self.changed.wait(remaining)

    def loop(self) -> None:
        """Serve requests until none is waiting, then end (the next request starts a new thread)."""
        while True:
            with self.changed:
                if self.pending is None or self.stopping:
                    self.busy = False
                    self.changed.notify_all()
                    return
                (observation, why), self.pending = self.pending, None
                epoch = self.epoch
            start_s = time.perf_counter()
            try:
                encoded = self.model.encode(observation, keep_cache=True)
                text, embedding = self.model.reason(encoded, self.max_new_tokens)
                result = FinishedReasoning(text, embedding, observation.instruction, observation.stamp_s,
                                           why, time.perf_counter() - start_s)
                error = None
            except Exception as caught:  # reported to the next infer call, never lost
                result, error = None, caught
            with self.changed:
                if epoch != self.epoch:  # begun before a reset (another episode, maybe another clock)
                    result, error = None, None
                if error is not None:
                    self.error = error
                elif result is not None and (self.latest is None or result.stamp_s >= self.latest.stamp_s):
                    self.latest = result
                    self.finished += 1
                self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            self.stopping = True
            thread = self.thread
        if thread is not None:
            thread.join()


class AsyncReasoningRuntime:
    """`Policy` over a `TwoRateModel`: one chunk per frame, reasoning at its own rate (or sync)."""

    def __init__(self, model: TwoRateModel, config: RuntimeConfig = RuntimeConfig()) -> None:
        self.model, self.config = model, config
        self.scheduler = ReasoningScheduler(config.schedule)
        self.worker = (ReasoningWorker(model, config.max_reasoning_tokens)
                       if config.mode == "async" else None)
        self.reasoning: FinishedReasoning | None = None
        self.frames = 0
        self.sync_refreshes = 0  # reasonings made by sync mode
        self.previous: tuple[np.ndarray, float, str] | None = None  # RTC: last chunk, its stamp, instruction
        self.latencies_s: list[float] = []  # RTC: the last few inference latencies
        self.rtc_dropped = 0  # RTC: chunks made without freezing, the arm not executing the previous one

    def reset(self) -> None:
        self.scheduler.reset()
        self.reasoning = None
        self.previous = None
        if self.worker is not None:
            self.worker.forget()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def infer(self, observation: Observation) -> PolicyOutput:
        start_s = time.perf_counter()
        if self.worker is None:
            reasoning, encoded = self.reason_now(observation)
        else:
            reasoning = self.latest_reasoning(observation)
            encoded = self.model.encode(observation)
        guide = self.rtc_guide(observation)
        actions = np.asarray(self.model.act(encoded, reasoning.embedding, observation,
                                            None if guide is None else (guide.target, guide.weights)), dtype=float)
        if guide is not None:  # the frozen rows exactly as they were sent before
            frozen = guide.weights == 1.0
            actions[frozen] = guide.target[frozen]
        self.check(actions)
        self.frames += 1
        latency_s = time.perf_counter() - start_s
        if self.config.rtc is not None:
            self.previous = (actions, observation.stamp_s, observation.instruction)
            self.latencies_s = (self.latencies_s + [latency_s])[-5:]
        info = {"latency_s": latency_s,
                "reasoning_age_s": observation.stamp_s - reasoning.stamp_s,
                "reasoning_duration_s": reasoning.duration_s,
                "reasoning_refreshes": float(self.worker.finished if self.worker else self.sync_refreshes)}
        if guide is not None:
            info.update(rtc_delay_steps=float(guide.delay_steps), rtc_frozen_rows=float(guide.frozen_rows))
        if self.config.rtc is not None:
            info["rtc_dropped"] = float(self.rtc_dropped)
        return PolicyOutput(reasoning=reasoning.text, joint_names=self.model.joint_names,
                            actions=actions, step_dt_s=self.model.step_dt_s, info=info)

    def rtc_guide(self, observation: Observation) -> InpaintingGuide | None:
        """The previous chunk's rows this one must keep (RTC), or None: RTC off, first chunk of a
        task, or the previous chunk already over. The delay is the slowest of the last five
        inferences in rows of step_dt_s, within the configured bounds."""
        if self.config.rtc is None or self.previous is None:
            return None
        actions, stamp_s, instruction = self.previous
        if instruction != observation.instruction:
            return None
        latency_s = max(self.latencies_s) if self.latencies_s else float("inf")
        delay = delay_steps(latency_s, self.model.step_dt_s, self.config.rtc)
        guide = inpainting_guide(actions, stamp_s, observation.stamp_s, self.model.step_dt_s, delay)
        if guide is not None and guide.frozen_rows and self.arm_left(guide.target[0], observation):
            self.rtc_dropped += 1
            return None
        return guide

    def arm_left(self, next_row: np.ndarray, observation: Observation) -> bool:
        """Whether the measured joints are further than rtc.max_first_jump_rad from next_row (the
        previous chunk's row due next, in the model's joint order): the arm is not executing it."""
        measured = columns_by_name(observation.joint_names, observation.joint_positions,
                                   self.model.joint_names, "observation")
        return bool(np.max(np.abs(next_row - measured)) > self.config.rtc.max_first_jump_rad)

    def reason_now(self, observation: Observation) -> tuple[FinishedReasoning, Any]:
        """Sync mode: when the schedule asks (always for a new task), one encoding serves both the
        reasoning and the chunk; otherwise the last reasoning about this task is reused."""
        start_s = time.perf_counter()
        why = self.scheduler.decide(observation.instruction, observation.images)
        if why is None and self.reasoning is not None and self.reasoning.instruction == observation.instruction:
            return self.reasoning, self.model.encode(observation)
        encoded = self.model.encode(observation, keep_cache=True)
        text, embedding = self.model.reason(encoded, self.config.max_reasoning_tokens)
        self.sync_refreshes += 1
        self.reasoning = FinishedReasoning(text, embedding, observation.instruction, observation.stamp_s,
                                           why or RefreshReason.NEW_INSTRUCTION, time.perf_counter() - start_s)
        return self.reasoning, encoded

    def latest_reasoning(self, observation: Observation) -> FinishedReasoning:
        why = self.scheduler.decide(observation.instruction, observation.images)
        if why is not None:
            self.worker.request(observation, why)
        if (why is RefreshReason.NEW_INSTRUCTION or self.reasoning is None
                or self.reasoning.instruction != observation.instruction):
            # FinishedReasoning about another task must never steer this one: wait for the new one.
            self.reasoning = self.worker.wait_for(observation.instruction,
                                                  self.config.first_reasoning_timeout_s)
        else:
            with self.worker.changed:
                error, self.worker.error = self.worker.error, None
                if self.worker.latest is not None and self.worker.latest.instruction == observation.instruction:
                    self.reasoning = self.worker.latest
            if error is not None:
                raise RuntimeError(f"reasoning generation failed: {error!r}") from error
        return self.reasoning

    def check(self, actions: np.ndarray) -> None:
        width = len(self.model.joint_names)
        if actions.ndim != 2 or actions.shape[1] != width:
            raise ModelOutputError(f"model returned actions of shape {actions.shape}, "
                                   f"expected (H, {width})")
        if not np.all(np.isfinite(actions)):
            bad = int(np.count_nonzero(~np.isfinite(actions)))
            raise ModelOutputError(f"model returned {bad} non-finite action values; chunk dropped")
