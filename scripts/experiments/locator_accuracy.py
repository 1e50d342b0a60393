"""Where does a head's target locator say the named card lies, on scenes nobody trained on?
(CHANGELOG.md, v9)

For each held-out and card-swap seed, the first frame is rendered as evaluation renders it, the
model writes its reasoning, and the locator points at an image token and reads a table position.
Against the scene's answer card (what a right reasoning names) it prints, per split and answer
place: how often the pointer's most likely token is the card's token, how often the read position
is nearest to the card's slot, the mean position error (cm) and, for a "digit-and-place" locator,
how often its classifiers read the card's digit and place from the reasoning. Rows with a wrong
reasoning are counted too; the last column says how many reasonings were right.

    .venv/bin/python scripts/experiments/locator_accuracy.py MODEL_DIR [--episodes 30]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from chatvla2.control.robot import load_robot_spec
from chatvla2.model.checkpoint import load_pretrained
from chatvla2.model.crop_views import parse_crop_views
from chatvla2.sim.env import SimConfig, TaskEnv
from chatvla2.sim.scenes import ORDINALS
from chatvla2.sim.tasks.math_cards import CARD_SLOT_Y_M
from chatvla2.train.locator_targets import card_token, image_token_grids, table_position_m

FIRST_SEED = 100000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--episodes", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_pretrained(args.model).eval()
    if model.head.locator is None:
        raise SystemExit(f"{args.model}: its head has no target locator")
    env = TaskEnv(load_robot_spec("franka_fr3"), SimConfig(image_height_px=224, image_width_px=224))
    grids = image_token_grids(model, list(env.config.cameras), "pick up the card that shows the answer", (224, 224))
    boxes = {v.name: v.box for v in parse_crop_views(model.config.image_crops) if v.camera == "front"}
    print(f"model {args.model}: target locator on the first frame, seeds {FIRST_SEED}-{FIRST_SEED + args.episodes - 1}")
    print("| split | answer place | scenes | pointer on the card's token | nearest slot right | "
          "position error (cm) | digit and place read | reasoning right |")
    print("|---|---|---|---|---|---|---|---|")
    for split in ("heldout", "cardswap"):
        rows: dict[int, list[tuple[bool, bool, float, float, bool]]] = {}
        for seed in range(FIRST_SEED, FIRST_SEED + args.episodes):
            scene = env.reset("math", seed, split)
            observation = env.observation()
            with torch.no_grad():
                reasoning = model.generate_reasoning(observation.images, scene.instruction)
                located = model.head.locate(reasoning.context)
            card = scene.answer_card
            pointed = int(located.logits[0].argmax())
            position = table_position_m(located.target[0].float().numpy())
            nearest = int(np.argmin(np.abs(np.asarray(CARD_SLOT_Y_M) - position[1])))
            error_cm = 100 * float(np.linalg.norm(position - np.asarray(card.pos_m[:2])))
            read = [int(logits[0].argmax()) for logits in located.name_logits]
            names_right = float(read == [card.digit, scene.answer_place]) if read else float("nan")
            rows.setdefault(scene.answer_place, []).append(
                (pointed == card_token(card, grids, boxes, env.config), nearest == card.slot, error_cm,
                 names_right, reasoning.text == scene.reasoning))
        for place in sorted(rows) + ["all"]:
            values = rows[place] if place != "all" else [v for r in rows.values() for v in r]
            hits, slots, errors, names, right = (np.array(column) for column in zip(*values))
            name = ORDINALS[place] if place != "all" else "all"
            names_read = "n/a" if np.isnan(names).all() else f"{int(names.sum())}/{len(values)}"
            print(f"| {split} | {name} | {len(values)} | {hits.sum()}/{len(values)} | {slots.sum()}/{len(values)} | "
                  f"{errors.mean():.1f} | {names_read} | {right.sum()}/{len(values)} |")


if __name__ == "__main__":
    main()
