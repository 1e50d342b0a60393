"""`chatvla2 replay`, `bag2dataset` and `bag-repair`: the testers' bag tools that need no ROS
(`chatvla2 record` subscribes to topics, so it lives in `chatvla2/ros/commands.py`).

Heavy imports (matplotlib, the policy) happen inside each command's `run`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatvla2.data.bag_topics import ARM_COMMAND_TOPIC
from chatvla2.paths import models_dir

DEFAULT_MODEL = models_dir() / "chatvla2-tiny"


def _add_robot(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--robot", default="franka_fr3", help="robot description (config/robots/<name>.yaml)")
    parser.add_argument("--cameras", nargs="+", default=None,
                        help="cameras to use, trigger camera first (default: all in the bag, 'front' first)")
    parser.add_argument("--command-topic", default=ARM_COMMAND_TOPIC, help="arm command topic in the bag")


def _print_problems(recording) -> None:
    for problem in recording.problems[:20]:
        print(f"warning: {problem}", file=sys.stderr)
    if len(recording.problems) > 20:
        print(f"warning: ... and {len(recording.problems) - 20} more problems", file=sys.stderr)


def _threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        return name.strip(), float(value) if sep else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold '{text}' must be METRIC=NUMBER") from None


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="rosbag2 directory (MCAP or sqlite3) or .mcap file")
    parser.add_argument("--model", default=str(DEFAULT_MODEL),
                        help="model directory, or 'placeholder' (default: models/chatvla2-tiny)")
    parser.add_argument("--out", type=Path, required=True, help="report directory (index.html, report.json, PNGs)")
    parser.add_argument("--threshold", type=_threshold, action="append", default=[], metavar="METRIC=LIMIT",
                        help="fail (exit 1) when METRIC exceeds LIMIT, e.g. mae_arm_rad=0.05, "
                             "latency_p95_ms=100, intervention_rate=0.01; repeatable")
    parser.add_argument("--realtime", action="store_true", help="pace the replay at recorded speed")
    parser.add_argument("--mode", choices=("sync", "async"), default="async",
                        help="runtime mode of a model (default async: what the robot runs, so the "
                             "report's latency is the robot's; sync reasons on every frame)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, the inference node's default torch_threads)")
    _add_robot(parser)


def run_replay(args: argparse.Namespace) -> int:
    from chatvla2.control.robot import load_robot_spec
    from chatvla2.data.bag_reader import read_stack_bag
    from chatvla2.data.replay import replay
    from chatvla2.data.replay_report import write_report
    from chatvla2.policy.loading import close_policy, load_policy, policy_mode
    from chatvla2.policy.runtime import RuntimeConfig

    if args.model != "placeholder" and not Path(args.model).exists():
        print(f"error: model '{args.model}' does not exist; train one or use --model placeholder", file=sys.stderr)
        return 2
    robot = load_robot_spec(args.robot)
    policy = load_policy(args.model, robot, RuntimeConfig(mode=args.mode), torch_threads=args.threads)
    print(f"replaying with {args.model}: {policy_mode(policy)}")
    recording = read_stack_bag(args.bag, args.command_topic)
    _print_problems(recording)
    try:
        result = replay(recording, policy, robot, args.cameras, realtime=args.realtime)
    finally:
        close_policy(policy)
    values, failures = write_report(result, recording, args.out, f"{args.model} ({policy_mode(policy)})",
                                    dict(args.threshold))
    for name, value in values.items():
        print(f"{name:30s} {value:.4g}")
    print(f"report: {(args.out / 'index.html').resolve()}")
    for failure in failures:
        print(f"THRESHOLD EXCEEDED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def add_bag2dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bags", type=Path, nargs="+", help="rosbag2 directories or .mcap files")
    parser.add_argument("--out", type=Path, required=True, help="folder for episode_XXXXXX.hdf5 files")
    from chatvla2.sim.tasks import task_names

    parser.add_argument("--task", choices=task_names(), default=None,
                        help="task attribute (default: guessed from the instruction's words)")
    parser.add_argument("--split", default="train", help="split attribute of the episodes")
    parser.add_argument("--failed", action="store_true", help="mark the episodes as unsuccessful")
    parser.add_argument("--no-reasoning", action="store_true", help="leave the reasoning attribute empty")
    _add_robot(parser)


def run_bag2dataset(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from chatvla2.control.robot import load_robot_spec
    from chatvla2.data.bag2dataset import episodes_from_recording, write_episode
    from chatvla2.data.bag_reader import read_stack_bag

    robot = load_robot_spec(args.robot)
    args.out.mkdir(parents=True, exist_ok=True)
    index = len(list(args.out.glob("episode_*.hdf5")))
    failed_bags = 0
    for bag in tqdm(args.bags, desc="bags", unit="bag"):
        try:
            recording = read_stack_bag(bag, args.command_topic)
            _print_problems(recording)
            episodes = episodes_from_recording(recording, robot, args.cameras, not args.no_reasoning)
        except (ValueError, FileNotFoundError) as error:
            print(f"error: bag '{bag}': {error}; skipped", file=sys.stderr)
            failed_bags += 1
            continue
        for episode in episodes:
            path = args.out / f"episode_{index:06d}.hdf5"
            write_episode(episode, path, robot, bag, args.task, args.split, not args.failed, seed=index)
            dropped = f", dropped {dict(episode.dropped)}" if episode.dropped else ""
            print(f"{path}: {len(episode.qpos)} steps, action from {episode.action_source}, "
                  f"instruction {episode.instruction!r}{dropped}")
            index += 1
    return 1 if failed_bags == len(args.bags) else 0


def add_repair_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="bag directory or .mcap file left by a crashed recorder")
    parser.add_argument("--out", type=Path, default=None, help="repaired bag directory (default: BAG-repaired)")


def run_repair(args: argparse.Namespace) -> int:
    from chatvla2.data.bag_repair import repair_bag

    out = args.out or args.bag.with_name(args.bag.stem + "-repaired")
    recovered, skipped = repair_bag(args.bag, out)
    for line in skipped:
        print(f"warning: {line}", file=sys.stderr)
    state = f"damage at the end: {recovered.damage}" if recovered.damage else "file was intact"
    print(f"recovered {len(recovered.messages)} messages on {len(recovered.topics)} topics ({state})")
    print(f"repaired bag: {out}")
    return 0


COMMANDS = {
    "replay": ("replay a bag through a policy offline and write a report", add_replay_arguments, run_replay),
    "bag2dataset": ("convert bags into training episodes (HDF5)", add_bag2dataset_arguments, run_bag2dataset),
    "bag-repair": ("recover the messages of a bag whose recorder crashed", add_repair_arguments, run_repair),
}
