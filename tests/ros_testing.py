"""Helpers for tests that speak real ROS 2 over Fast DDS (importable: tests/ is on pythonpath)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class NodeProcesses:
    """Starts entry-point executables as separate processes and always ends them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, executable: str, *ros_args: str, name: str | None = None) -> subprocess.Popen:
        name = name or executable
        log = open(self.log_dir / f"{name}.log", "w")
        proc = subprocess.Popen([str(BIN / executable), "--ros-args", *ros_args], stdout=log,
                                stderr=subprocess.STDOUT, cwd=REPO, env=os.environ.copy())
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text()

    def stop(self, name: str, sig: int = signal.SIGINT, timeout_s: float = 10.0) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def spin_until(context, node, predicate, timeout_s: float) -> bool:
    """Spin `node` until predicate() is true or the timeout passes; returns predicate()."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not predicate():
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(node)
        executor.shutdown()
    return predicate()


def stamp_among(stamp_s: float, stamps_s, tolerance_s: float = 1e-6) -> bool:
    """Whether a stamp is one of `stamps_s`. Header stamps travel as (sec, nanosec); a float of
    epoch seconds has ~0.2 us resolution, so compare within a microsecond, not bit for bit."""
    return any(abs(stamp_s - other) <= tolerance_s for other in stamps_s)
