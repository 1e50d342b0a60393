"""Which slot's card each episode of an `eval-table` log lifted: where a habit for a place hides.

    python scripts/experiments/lifted_slots.py runs/eval/v6.log

For every policy and split it counts, over the episodes, the slot (0 = leftmost of the four) whose card came
up (the answer's on success, the wrong card's otherwise) or "none". The scenes are rebuilt from
their seeds with the same sampler as the evaluation (`sim.scenes.sample_scene`). In v6's log:
held-out none 11, slot 0 8, slot 1 3, slot 2 8; card-swap none 11, slot 2 19 (the answer lies in
slot 3).
"""
from __future__ import annotations

import argparse
import re
from collections import Counter

from chatvla2.sim.scenes import sample_scene

LINE = re.compile(r"\[(?P<name>.+) (?P<split>heldout|cardswap) seed (?P<seed>\d+)\] (?P<verdict>success|FAIL: (?P<reason>[^|]+?)) \|")


def lifted_slot(split: str, seed: int, verdict: str, reason: str | None) -> str:
    scene = sample_scene("math", seed, split)
    if verdict == "success":
        return f"slot {scene.answer_card.slot}"
    wrong = re.match(r"lifted wrong card \[(?P<digits>[\d, ]+)\]", reason or "")
    if wrong is None:
        return "none"
    digits = [int(d) for d in wrong["digits"].split(",")]
    return ", ".join(f"slot {c.slot}" for c in scene.cards if c.digit in digits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="the log `chatvla2 eval-table` wrote (its episode lines)")
    args = parser.parse_args()
    counts: dict[str, Counter] = {}
    with open(args.log, encoding="utf-8", errors="replace") as handle:
        for line in handle.read().replace("\r", "\n").splitlines():
            match = LINE.search(line)
            if match is None:
                continue
            slot = lifted_slot(match["split"], int(match["seed"]), match["verdict"], match["reason"])
            counts.setdefault((match["name"], match["split"]), Counter())[slot] += 1
    if not counts:
        raise SystemExit(f"no episode lines in {args.log}")
    for (name, split), counter in counts.items():
        total = sum(counter.values())
        print(f"{name}, {split} ({total} episodes): " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))


if __name__ == "__main__":
    main()
