"""Simulator data generation speed: offscreen rendering and expert episodes, 1 worker vs N workers.

Baseline in the same run: one worker. Prints a table and appends it to benchmarks/RESULTS.md.
Usage: python benchmarks/sim_generation.py [--episodes 4] [--workers 2]
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path

from chatvla2.control.robot import load_robot_spec
from chatvla2.data.recording import EpisodeJob, generate_episodes
from chatvla2.sim.env import SimConfig, TaskEnv


def render_fps(size_px: int, frames: int = 100) -> float:
    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=size_px, image_width_px=size_px))
    env.reset("math", 0)
    env.render("front")
    start = time.perf_counter()
    for _ in range(frames):
        env.render("front")
    fps = frames / (time.perf_counter() - start)
    env.close_renderer()
    return fps


def episodes_per_s(task: str, count: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        jobs = [EpisodeJob(task, seed, "train", Path(out)) for seed in range(count)]
        start = time.perf_counter()
        generate_episodes(jobs, workers=workers)
        return count / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = [("render front 224x224 (frames/s)", f"{render_fps(224):.0f}", "-"),
            ("render front 96x96 (frames/s)", f"{render_fps(96):.0f}", "-")]
    for task in ("math", "placement"):
        base = episodes_per_s(task, args.episodes, 1)
        parallel = episodes_per_s(task, args.episodes, args.workers)
        rows.append((f"{task} expert episodes/s, 1 vs {args.workers} workers", f"{base:.2f}",
                     f"{parallel:.2f} ({parallel / base:.2f}x)"))
    table = ["| measure | baseline | this |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    print("\n".join(table))
    header = (f"\n## sim_generation ({platform.node()}, {datetime.date.today()}, "
              f"`python {' '.join(sys.argv)}`)\n")
    results = Path(__file__).parent / "RESULTS.md"
    with results.open("a") as f:
        f.write(header + "\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
