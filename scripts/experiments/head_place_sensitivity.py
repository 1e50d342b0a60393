"""Does the action head follow the place its reasoning names, and when? (CHANGELOG.md, v5)

For every tenth training episode and each given frame, the episode's reasoning is encoded three
times by the frozen VLM, its place clause naming each card of the row in turn ("the card 7 is
first / second / third from the left"), and the head samples a chunk for each (same noise). Printed
per frame: how far apart the three chunks end (largest joint difference, rad; 0 = the head ignores
the place) and how far the chunk for the true place ends from the expert's (per answer place).

    .venv/bin/python scripts/experiments/head_place_sensitivity.py MODEL_DIR [--frames 0 10 20]
"""
from __future__ import annotations

import argparse
import numpy as np
import torch

from chatvla2.model.checkpoint import load_pretrained
from chatvla2.sim.tasks.math_cards import card_place_text, card_row_text
from chatvla2.train.samples import RobotTrainingSet
from chatvla2.train.stages import ROW_CLAUSE, frame_embeddings, freeze_vlm, robot_batch

PLACES = ("1st", "2nd", "3rd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--episodes-dir", default="runs/data/math_train")
    parser.add_argument("--frames", type=int, nargs="+", default=[0, 10, 20])
    parser.add_argument("--every", type=int, default=10, help="use every n-th episode")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_pretrained(args.model)
    freeze_vlm(model)
    dataset = RobotTrainingSet(args.episodes_dir, ["front", "wrist"], model.config.action_head.horizon)
    where = {key: position for position, key in enumerate(dataset.chunks.index)}
    print(f"model {args.model}: chunk-end joint targets, {len(range(0, dataset.episode_count, args.every))} episodes")
    print("| frame | spread across named places (rad) | error vs expert, true place: " + " / ".join(PLACES) + " (rad) |")
    print("|---|---|---|")
    for frame in args.frames:
        spreads, errors = [], {place: [] for place in range(3)}
        for episode in range(0, dataset.episode_count, args.every):
            sample = dataset.robot_sample(dataset.positions.index(where[(episode, frame)]))
            match = ROW_CLAUSE.match(sample.reasoning)  # the math reasoning's own template
            digits = [int(d) for d in match["row"].split()]
            head = f"{match['head']}{card_row_text(digits)}; "
            texts = [head + card_place_text(digits, digit) for digit in digits]
            batch, state, _ = robot_batch(model, [sample] * len(texts), texts)
            observation, reasoning, context = frame_embeddings(model, batch)
            with torch.no_grad():
                chunks = model.sample_actions(observation, reasoning, state, context=context,
                                              generator=torch.Generator().manual_seed(0)).numpy()
            ends = chunks[:, -1, :-1]  # (3, joints): where each chunk leaves the arm
            spreads.append(float(np.ptp(ends, axis=0).max()))
            place = digits.index(int(match["answer"]))
            errors[place].append(float(np.abs(ends[place] - sample.actions[-1, :-1]).max()))
        per_place = " / ".join(f"{np.mean(v):.3f} (n={len(v)})" if v else "-" for v in errors.values())
        print(f"| {frame} | {np.mean(spreads):.3f} | {per_place} |")


if __name__ == "__main__":
    main()
