"""Camera frames between processes, by image size: Fast DDS's defaults against the stack's shipped
profile (config/dds/fastdds_large_frames.xml), in the same run.

    .venv/bin/python benchmarks/camera_transport.py [--count 20] [--rate-hz 10] [--results benchmarks/RESULTS.md]

Each row: frames received of those sent (best effort, depth 1: the inference node's camera QoS),
the receive rate, and publish-to-receive latency p50/p99. Appends the table to RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from chatvla2.ros.frame_transport_probe import measure

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "config" / "dds" / "fastdds_large_frames.xml"
SIZES = [(320, 240), (640, 480), (1280, 720), (1920, 1080)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--rate-hz", type=float, default=10.0)
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "RESULTS.md"))
    args = parser.parse_args()
    lines = ["| transport settings | frame | size (KiB) | received | frames/s | latency p50 (ms) | latency p99 (ms) |",
             "|---|---|---|---|---|---|---|"]
    for name, profile in (("Fast DDS defaults (baseline)", None), ("shipped profile", PROFILE)):
        latencies = measure(SIZES, profile, args.count, args.rate_hz)
        for width, height in SIZES:
            got = np.asarray(latencies[f"{width}x{height}"]) * 1e3
            p50, p99 = np.percentile(got, [50, 99]) if got.size else (float("nan"),) * 2
            lines.append(f"| {name} | {width}x{height} | {width * height * 3 / 1024:.0f} | {got.size}/{args.count} "
                         f"| {args.rate_hz * got.size / args.count:.1f} | {p50:.1f} | {p99:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.results:
        heading = (f"\n## camera_transport ({platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
                   f"{time.strftime('%Y-%m-%d')}, `python benchmarks/camera_transport.py --count {args.count} "
                   f"--rate-hz {args.rate_hz:g}`)\n")
        with open(args.results, "a") as results:
            results.write(heading + table + "\n")


if __name__ == "__main__":
    main()
