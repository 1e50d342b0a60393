"""Contact sheet of the open-world evaluation splits (sim/appearance.py): for one seed, the front
camera of the held-out scene and of each open-world split, with the policy's first reasoning and
the scene's annotation under each. Writes docs/images/openworld_scenes.png.

    .venv/bin/python scripts/render_openworld_sheet.py [--policy models/chatvla2-tiny] [--seed 100004]
"""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from chatvla2.control.robot import load_robot_spec  # noqa: E402
from chatvla2.policy.loading import close_policy, load_policy  # noqa: E402
from chatvla2.policy.runtime import RuntimeConfig  # noqa: E402
from chatvla2.sim.appearance import OPEN_WORLD_SPLITS  # noqa: E402
from chatvla2.sim.env import SimConfig, TaskEnv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="models/chatvla2-tiny")
    parser.add_argument("--seed", type=int, default=100004)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "openworld_scenes.png")
    args = parser.parse_args()
    robot = load_robot_spec("franka_fr3")
    env = TaskEnv(robot, SimConfig())
    policy = load_policy(args.policy, robot, RuntimeConfig(mode="sync"), torch_threads=1)
    splits = ["heldout", *OPEN_WORLD_SPLITS]
    figure, axes = plt.subplots(1, len(splits), figsize=(3.2 * len(splits), 4.6))
    for axis, split in zip(axes, splits):
        scene = env.reset("math", args.seed, split)
        policy.reset()
        reasoning = policy.infer(env.observation()).reasoning
        right = "OK" if reasoning == scene.reasoning else "WRONG"
        axis.imshow(env.render("front"))
        axis.set_title(split, fontsize=10)
        axis.set_axis_off()
        axis.text(0.0, -0.04, textwrap.fill(f"model ({right}): {reasoning}", 34) + "\n\n"
                  + textwrap.fill(f"annotation: {scene.reasoning}", 34), transform=axis.transAxes,
                  fontsize=7, va="top", family="monospace")
    close_policy(policy)
    env.close_renderer()
    figure.suptitle(f"open-world splits, seed {args.seed}: the same held-out scene in looks no training data drew "
                    f"(policy {args.policy})", fontsize=10)
    figure.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.32, wspace=0.05)
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
