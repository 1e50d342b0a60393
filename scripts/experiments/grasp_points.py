"""Where does the gripper go down? For each seed of a split, a model drives the arm (sync runtime,
as `chatvla2 eval-table`), and the tool centre point's position is read at its lowest point over
the card row (the grasp attempt). Printed per episode: the answer's slot, the slot nearest the
grasp point, the sideways and depth miss from the answer card (cm), and the outcome; then counts.
An empty grasp between two slots shows as a sideways miss of about half a slot (5 cm).
(CHANGELOG.md, v10)

    .venv/bin/python scripts/experiments/grasp_points.py MODEL_DIR [--split cardswap] [--episodes 10]
        [--reasoning-every N]   # as `chatvla2 eval-table`: 0 = reason once per episode
"""
from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.sim.env import SimConfig, TaskEnv
from chatvla2.sim.commands import make_policy
from chatvla2.sim.episode import run_episode
from chatvla2.sim.tasks.math_cards import CARD_SLOT_Y_M

FIRST_SEED = 100000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--split", default="cardswap", choices=("heldout", "cardswap"))
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--reasoning-every", type=int, default=None, metavar="N")
    args = parser.parse_args()
    torch.set_num_threads(1)
    robot = load_robot_spec("franka_fr3")
    env = TaskEnv(robot, SimConfig(image_height_px=224, image_width_px=224))
    policy = make_policy(args.model, env, robot, "sync", args.reasoning_every)
    print(f"model {args.model}, {args.split} seeds {FIRST_SEED}-{FIRST_SEED + args.episodes - 1}")
    print("| seed | answer slot | grasp nearest slot | sideways miss (cm) | depth miss (cm) | outcome |")
    print("|---|---|---|---|---|---|")
    nearest_counts = Counter()
    for seed in range(FIRST_SEED, FIRST_SEED + args.episodes):
        lowest = [np.full(3, np.inf)]

        def track(_action, lowest=lowest) -> None:
            tcp = env.data.site("tcp").xpos.copy()
            if tcp[2] < lowest[0][2]:
                lowest[0] = tcp

        result = run_episode(env, policy, "math", seed, args.split, before_step=track)
        answer = env.scene.answer_card
        grasp = lowest[0]
        nearest = int(np.argmin(np.abs(np.asarray(CARD_SLOT_Y_M) - grasp[1])))
        nearest_counts[(answer.slot, nearest)] += 1
        print(f"| {seed} | {answer.slot} | {nearest} | {100 * (grasp[1] - answer.pos_m[1]):+.1f} | "
              f"{100 * (grasp[0] - answer.pos_m[0]):+.1f} | {result.reason} |")
    print("(answer slot, grasp slot): count  " + ", ".join(f"{k}: {v}" for k, v in sorted(nearest_counts.items())))


if __name__ == "__main__":
    main()
