"""`chatvla2 delay-table`: latest vs ensemble vs rtc chunk execution under injected inference delay.

For every delay setting (control steps of 0.1 s; "2+-1" = 2 on average, 1 to 3 drawn uniformly)
and execution mode, the same held-out math scenes run through `sim.episode.run_episode` with the
model in the runtime's sync mode (RTC on for 'rtc', its delay floor = the injected delay, the
most it can be: the runtime cannot see a delay that is injected, a robot's floor covers transport
the same way). Writes a Markdown table + JSON, and a PNG of one joint's targets and commands
across several chunk switches per mode.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MODES = ("latest", "ensemble", "rtc")
DELAYS = ("0", "1", "2", "4", "2+-1")


def parse_delay(text: str) -> tuple[int, int]:
    """'2' -> (2, 2); '2+-1' -> (1, 3): the inclusive range of delays drawn."""
    base, _, spread = text.partition("+-")
    low, high = int(base) - int(spread or 0), int(base) + int(spread or 0)
    if low < 0:
        raise ValueError(f"delay '{text}' reaches below 0 steps")
    return low, high


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from chatvla2.sim.commands import add_task_argument

    parser.add_argument("--model", default="models/chatvla2-tiny")
    add_task_argument(parser, required=False)
    parser.add_argument("--split", default="heldout")
    parser.add_argument("--episodes", type=int, default=6, help="scenes per mode and delay")
    parser.add_argument("--seed", type=int, default=100000)
    parser.add_argument("--delays", nargs="+", default=list(DELAYS), help="control steps of 0.1 s, e.g. 2 or 2+-1")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--max-steps", type=int, default=120)
    parser.add_argument("--out", type=Path, required=True, help="Markdown table (JSON and PNG beside it)")


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from dataclasses import replace

    from chatvla2.control.robot import load_robot_spec
    from chatvla2.policy.loading import close_policy, load_policy
    from chatvla2.policy.realtime_chunking import RtcConfig
    from chatvla2.policy.runtime import RuntimeConfig
    from chatvla2.sim.episode import controller_config_from_params, run_episode
    from chatvla2.sim.env import SimConfig, TaskEnv

    torch.set_num_threads(1)
    robot = load_robot_spec("franka_fr3")
    env = TaskEnv(robot, SimConfig(image_height_px=224, image_width_px=224))
    rows, examples = [], {}
    for delay_text in args.delays:
        low, high = parse_delay(delay_text)
        for mode in args.modes:
            rtc = RtcConfig(min_delay_steps=high, max_delay_steps=high) if mode == "rtc" else None
            policy = load_policy(args.model, robot, RuntimeConfig(mode="sync", rtc=rtc))
            config = replace(controller_config_from_params(), execution_mode="latest" if mode == "rtc" else mode)
            rng = np.random.default_rng(0)
            episodes = []
            for index in tqdm(range(args.episodes), desc=f"delay {delay_text} {mode}", unit="ep"):
                episodes.append(run_episode(env, policy, args.task, args.seed + index, args.split, config,
                                            lambda: rng.integers(low, high + 1), args.max_steps,
                                            query_every_steps=2, trace=True))
            close_policy(policy)
            examples[(delay_text, mode)] = episodes[0]
            rows.append({"delay_steps": delay_text, "mode": mode, "episodes": len(episodes),
                         "success": sum(e.success for e in episodes),
                         "switch_jump_rad": max(e.switch_jump_rad() for e in episodes),
                         "switch_acceleration_rad_s2": max(e.switch_acceleration() for e in episodes),
                         "command_jerk_rms_rad_s3": float(np.mean([e.command_jerk_rms() for e in episodes])),
                         "gate_rejections": sum(e.rejections for e in episodes),
                         "safety_interventions": sum(sum(e.interventions.values()) for e in episodes)})
            tqdm.write(json.dumps(rows[-1]))
    env.close_renderer()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(rows) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    plot = plot_switches(examples, args.out.with_suffix(".png"))
    print(markdown(rows))
    print(f"plot: {plot}")
    return 0


def markdown(rows: list[dict]) -> str:
    lines = ["| delay (steps of 0.1 s) | mode | success | largest target jump at a switch (rad) "
             "| largest target acceleration at a switch (rad/s^2) | command jerk RMS (rad/s^3) "
             "| chunk-gate rejections | safety-filter interventions |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['delay_steps']} | {r['mode']} | {r['success']}/{r['episodes']} | {r['switch_jump_rad']:.3f} "
                     f"| {r['switch_acceleration_rad_s2']:.0f} | {r['command_jerk_rms_rad_s3']:.0f} "
                     f"| {r['gate_rejections']} | {r['safety_interventions']} |")
    return "\n".join(lines)


def plot_switches(examples: dict, path: Path, joint: int | None = None, seconds: float = 4.0) -> Path | None:
    """One arm joint's target and command over the first `seconds` of the first episode at the
    largest delay shown, one panel per mode, chunk switches marked; by default the joint that moves
    most in the first mode's episode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not examples:
        return None
    delay = sorted({d for d, _ in examples}, key=lambda d: parse_delay(d)[1])[-1]
    modes = [m for d, m in examples if d == delay]
    if joint is None:
        first = examples[(delay, modes[0])].commands[: int(seconds / 0.01), :-1]
        joint = int(np.argmax(np.ptp(first, axis=0)))
    figure, axes = plt.subplots(len(modes), 1, figsize=(9, 2.4 * len(modes)), sharex=True, squeeze=False)
    ticks = int(seconds / 0.01)
    for axis, mode in zip(axes[:, 0], modes):
        episode = examples[(delay, mode)]
        time_s = np.arange(min(ticks, len(episode.commands))) * 0.01
        axis.plot(time_s, episode.targets[: len(time_s), joint], label="executor target", lw=1.2)
        axis.plot(time_s, episode.commands[: len(time_s), joint], label="filtered command", lw=1.0, ls="--")
        for tick in episode.switch_ticks:
            if tick < len(time_s):
                axis.axvline(tick * 0.01, color="grey", lw=0.5, alpha=0.6)
        axis.set_title(f"{mode}, delay {delay} steps: joint {joint + 1} (grey: chunk switches)", fontsize=9)
        axis.set_ylabel("rad")
    axes[-1, 0].set_xlabel("simulated time (s)")
    axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


COMMANDS = {
    "delay-table": ("latest vs ensemble vs rtc chunk execution under injected inference delay (MuJoCo)",
                    add_arguments, run),
}
