"""What real-time chunking costs per chunk: the runtime's act() (10-step DDIM head, tiny preset,
random weights) with and without the inpainting target, alternating in one run.

    python benchmarks/rtc_cost.py [--calls 200] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.policy.interface import Observation
from chatvla2.policy.realtime_chunking import soft_weights
from chatvla2.policy.runtime_model import ChatVLA2TwoRateModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    robot = load_robot_spec("franka_fr3")
    two_rate = ChatVLA2TwoRateModel(ChatVLA2Model.from_preset("tiny"), robot)
    frame = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    observation = Observation({"front": frame, "wrist": frame}, robot.command_names, robot.home_command.copy(),
                              "pick up the card that shows the answer", 0.0)
    encoded = two_rate.encode(observation)
    embedding = torch.zeros_like(encoded.observation_embedding)
    previous = two_rate.act(encoded, embedding, observation)
    inpaint = (np.vstack([previous[2:], np.repeat(previous[-1:], 2, axis=0)]), soft_weights(16, delay=3, offset=2))
    times = {"plain": [], "rtc": []}
    for index in range(2 * args.calls + 20):
        name = "plain" if index % 2 == 0 else "rtc"
        start = time.perf_counter()
        two_rate.act(encoded, embedding, observation, inpaint if name == "rtc" else None)
        if index >= 20:  # warm-up calls are not timed
            times[name].append(time.perf_counter() - start)
    base = np.median(times["plain"])
    print(f"act() per chunk, tiny preset, {args.threads} torch thread(s), {args.calls} calls each, alternating")
    print("| head path | p50 (ms) | p90 (ms) | vs plain |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {1e3 * np.median(values):.2f} | {1e3 * np.percentile(values, 90):.2f} "
              f"| {np.median(values) / base:.3f}x |")


if __name__ == "__main__":
    main()
