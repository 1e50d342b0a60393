"""Chunk counts, rolling rate and latency, and model errors: what the node reports on /diagnostics.

Plain Python, thread-safe (the inference thread records, the diagnostics timer reads). Latency is
measured from the observation's stamp to the moment its chunk is ready, so it includes transport
and waiting, not only the model call.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StatsSnapshot:
    chunks: int
    chunk_rate_hz: float
    latency_p50_s: float
    latency_p99_s: float
    model_errors: int
    last_error: str
    error_is_current: bool  # no chunk has been published since the last model error


class InferenceStats:
    """Rolling window of the last `window` chunks, plus totals since start."""

    def __init__(self, window: int = 200) -> None:
        self.lock = threading.Lock()
        self.latencies_s: deque[float] = deque(maxlen=window)
        self.done_at_s: deque[float] = deque(maxlen=window)
        self.chunks = self.model_errors = 0
        self.last_error = ""
        self.chunks_at_last_error = -1

    def chunk(self, latency_s: float) -> None:
        with self.lock:
            self.chunks += 1
            self.latencies_s.append(latency_s)
            self.done_at_s.append(time.monotonic())

    def error(self, message: str) -> None:
        with self.lock:
            self.model_errors += 1
            self.last_error = message
            self.chunks_at_last_error = self.chunks

    def snapshot(self) -> StatsSnapshot:
        with self.lock:
            latencies = np.asarray(self.latencies_s, dtype=float)
            done = list(self.done_at_s)
            rate = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else 0.0
            p50, p99 = ((float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)))
                        if latencies.size else (float("nan"), float("nan")))
            return StatsSnapshot(self.chunks, rate, p50, p99, self.model_errors, self.last_error,
                                 self.model_errors > 0 and self.chunks == self.chunks_at_last_error)
