"""The evaluation table: policies x the task's evaluation splits in the MuJoCo simulator (math:
held-out and card-swap; the splits come from the task registry, chatvla2.sim.tasks).

Runs every policy (expert, random, model directories) through `chatvla2.sim.episode`'s
closed loop, the same one `chatvla2 eval` uses, and reports per policy:
- reasoning correct: the policy's reasoning on the episode's first observation equals the scene's
  annotation exactly (reading the board, computing the answer, locating the card); first, because
  later frames show the arm and the lifted card, and that first reasoning is what drives the run;
- math success (held-out equations) and card-swap success (answer card in the slot never used
  for answers in training), judged by the simulator, and the held-out success broken down by the
  answer card's place (first / second / third from the left), where a positional habit shows;
- `habit=habit` adds the baseline that always lifts the card at the habitual training place;
- router entropy per MoE layer (bits; max log2(experts)): the entropy of the share of token-slots
  each expert received, summed over the prompt tokens of every episode's first observation.
Models run through `load_policy`, the robot's runtime, in `--mode` (default sync: deterministic,
the paper's evaluation mode; `--reasoning-every 0`: reasoning once per episode, as stage 2 trains
the head); the table names the mode. Writes a Markdown table and a JSON file;
prints each episode's reasoning.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

@dataclass
class PolicyScores:
    name: str
    task: str = "math"
    mode: str = ""  # what ran: "sync runtime" / "async runtime" (models, via load_policy) or a class name
    episodes: dict[str, int] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)
    reasoning_correct: dict[str, int] = field(default_factory=dict)
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    by_place: dict[str, dict[int, list[int]]] = field(default_factory=dict)  # split -> place -> [won, episodes]
    router_entropy_bits: list[float] | None = None
    max_entropy_bits: float | None = None


class FirstReasoning:
    """Wraps a policy; remembers the reasoning it gave on the first observation after reset."""

    def __init__(self, policy) -> None:
        self.policy, self.first, self.first_observation = policy, None, None

    def reset(self) -> None:
        self.first, self.first_observation = None, None
        self.policy.reset()

    def infer(self, observation):
        output = self.policy.infer(observation)
        if self.first is None:
            self.first, self.first_observation = output.reasoning, observation
        return output


def router_entropy(model, observations) -> tuple[list[float], float]:
    """Per-layer load entropy (bits) over the prompt tokens of the given observations."""
    totals = None
    for observation in observations:
        model.embed_observation(observation.images, observation.instruction)
        counts = [stats.tokens_per_expert.double().numpy() for stats in model.routing_stats()]
        totals = counts if totals is None else [t + c for t, c in zip(totals, counts)]
    if not totals:
        return [], float("nan")
    entropies = []
    for counts in totals:
        share = counts / max(counts.sum(), 1.0)
        entropies.append(float(-(share[share > 0] * np.log2(share[share > 0])).sum()))
    return entropies, math.log2(len(totals[0]))


def evaluate_policy(spec: str, name: str, episodes: int, seed: int, max_steps: int, execute_steps: int,
                    image_size: int, mode: str = "sync", reasoning_every: int | None = None,
                    task: str = "math", splits: tuple[str, ...] | None = None) -> PolicyScores:
    from chatvla2.control.robot import load_robot_spec
    from chatvla2.policy.loading import close_policy, policy_mode
    from chatvla2.sim.commands import make_policy
    from chatvla2.sim.env import SimConfig, TaskEnv
    from chatvla2.sim.episode import run_episode
    from chatvla2.sim.tasks import get_task

    robot = load_robot_spec("franka_fr3")
    env = TaskEnv(robot, SimConfig(image_height_px=image_size, image_width_px=image_size))
    policy = FirstReasoning(make_policy(spec, env, robot, mode, reasoning_every))
    scores = PolicyScores(name, task=task, mode=policy_mode(policy.policy))
    tqdm.write(f"{name}: {scores.mode}")
    first_observations = []
    for split in splits or get_task(task).eval_splits:
        scores.episodes[split] = scores.successes[split] = scores.reasoning_correct[split] = 0
        scores.failures[split] = {}
        scores.by_place[split] = {}
        for index in tqdm(range(episodes), desc=f"{name} {split}", unit="ep"):
            result = run_episode(env, policy, task, seed + index, split, max_steps=max_steps,
                                 query_every_steps=execute_steps)
            correct = policy.first == result.expected_reasoning
            scores.episodes[split] += 1
            scores.successes[split] += int(result.success)
            scores.reasoning_correct[split] += int(correct)
            if result.answer_place is not None:
                tally = scores.by_place[split].setdefault(result.answer_place, [0, 0])
                tally[0] += int(result.success)
                tally[1] += 1
            if not result.success:
                scores.failures[split][result.reason] = scores.failures[split].get(result.reason, 0) + 1
            first_observations.append(policy.first_observation)
            tqdm.write(f"[{name} {split} seed {result.seed}] {'success' if result.success else 'FAIL: ' + result.reason}"
                       f" | reasoning {'OK ' if correct else 'BAD'}: {policy.first!r}"
                       + ("" if correct else f" | expected: {result.expected_reasoning!r}"))
    model = getattr(getattr(policy.policy, "model", None), "model", None)  # runtime -> two-rate model -> ChatVLA2Model
    if model is not None:
        scores.router_entropy_bits, scores.max_entropy_bits = router_entropy(model, first_observations)
    close_policy(policy.policy)
    env.close_renderer()
    return scores


def percent(numerator: int, denominator: int) -> str:
    return f"{numerator}/{denominator} ({100.0 * numerator / max(denominator, 1):.0f}%)"


def by_place_text(row: PolicyScores, split: str) -> str:
    """'1st 5/9, 2nd 3/11, 3rd 0/10' (successes / episodes per answer place)."""
    names = ("1st", "2nd", "3rd", "4th")
    return ", ".join(f"{names[place]} {won}/{count}" for place, (won, count) in sorted(row.by_place[split].items()))


SPLIT_NAMES = {"heldout": "held-out", "cardswap": "card-swap", "train": "train", "openworld": "open-world (all)"}


def markdown_table(rows: list[PolicyScores]) -> str:
    """One row per policy: per split, reasoning correct and success (with the success by answer
    place where the task has places), then the router entropy."""
    splits = list(rows[0].episodes)
    placed = {split: any(row.by_place.get(split) for row in rows) for split in splits}
    header = ["policy"]
    for split in splits:
        label = SPLIT_NAMES.get(split, split)
        header += [f"reasoning correct ({label})", f"success ({label})"]
        if placed[split]:
            header.append(f"{label} success by answer place")
    header.append("router entropy per layer (bits, max)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        entropy = ("n/a" if not row.router_entropy_bits else
                   ", ".join(f"{v:.2f}" for v in row.router_entropy_bits) + f" (max {row.max_entropy_bits:.2f})")
        cells = [f"{row.name} ({row.mode})" if "runtime" in row.mode else row.name]
        for split in splits:
            cells += [percent(row.reasoning_correct[split], row.episodes[split]),
                      percent(row.successes[split], row.episodes[split])]
            if placed[split]:
                cells.append(by_place_text(row, split))
        lines.append("| " + " | ".join(cells + [entropy]) + " |")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    from chatvla2.sim.commands import add_mode_argument, add_task_argument

    add_task_argument(parser, required=False)
    parser.add_argument("--splits", nargs="+", help="the splits to run (default: the task's evaluation splits; "
                        "math also has openworld-font, -colour, -light, -camera and openworld, sim/appearance.py)")
    parser.add_argument("policies", nargs="+",
                        help="NAME=SPEC pairs; SPEC: expert | random | habit | model directory")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per split and policy")
    parser.add_argument("--seed", type=int, default=100000, help="first scene seed (eval seeds differ from training's)")
    parser.add_argument("--max-steps", type=int, default=120)
    parser.add_argument("--execute-steps", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--out", type=Path, required=True, help="Markdown table to write (a .json beside it)")
    add_mode_argument(parser)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: more threads than free cores slows torch "
                             "down many times over when a training job holds the other core)")


def run(args) -> int:
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for item in args.policies:
        name, _, spec = item.partition("=")
        if not spec:
            name, spec = item, item
        rows.append(evaluate_policy(spec, name, args.episodes, args.seed, args.max_steps, args.execute_steps,
                                    args.image_size, args.mode, args.reasoning_every, args.task, args.splits))
    table = markdown_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n")
    args.out.with_suffix(".json").write_text(json.dumps([row.__dict__ for row in rows], indent=2))
    print(table)
    return 0
