"""Open-loop reasoning probe: a checkpoint's reasoning on the first frame of held-out and card-swap
math scenes, scored per part (board read, sum, card row read, answer place), without running the
arm. Usage: .venv/bin/python scripts/experiments/reasoning_probe.py MODEL_DIR [--episodes 30]
It answers in a minute what the closed-loop eval-table takes ten for; the table stays the measure."""
from __future__ import annotations

import argparse
from collections import Counter

import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.model.chatvla2 import ChatVLA2Model
from chatvla2.sim.env import SimConfig, TaskEnv

PARTS = ("board", "sum", "row", "place")


def parts(text: str) -> dict[str, str]:
    """'the board says ..; a op b = c; the cards say ..; the card c is X from the left' -> parts."""
    pieces = [p.strip() for p in text.split(";")]
    named = {"board": next((p for p in pieces if p.startswith("the board says")), ""),
             "sum": next((p for p in pieces if "=" in p), ""),
             "row": next((p for p in pieces if p.startswith("the cards say")), ""),
             "place": next((p for p in pieces if p.startswith("the card ")), "")}
    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=100000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = ChatVLA2Model.from_pretrained(args.model).eval()
    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=224, image_width_px=224))
    for split in ("heldout", "cardswap"):
        right, places = Counter(), Counter()
        for seed in range(args.seed, args.seed + args.episodes):
            scene = env.reset("math", seed, split)
            obs = env.observation()
            said = model.generate_reasoning(obs.images, obs.instruction).text
            want, got = parts(scene.reasoning), parts(said)
            for part in PARTS:
                right[part] += int(want[part] == got[part])
            right["all"] += int(said == scene.reasoning)
            places[(want["place"].split(" is ")[-1], got["place"].split(" is ")[-1])] += 1
        print(f"{split}: " + ", ".join(f"{k} {right[k]}/{args.episodes}" for k in (*PARTS, "all")))
        print("  (expected place, said place): " + ", ".join(f"{k}: {v}" for k, v in sorted(places.items())))
    env.close_renderer()


if __name__ == "__main__":
    main()
