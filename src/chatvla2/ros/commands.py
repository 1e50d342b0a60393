"""`chatvla2` subcommands that need ROS. rclpy is imported only when one of them runs."""
from __future__ import annotations

import argparse
from pathlib import Path

from chatvla2.data.bag_topics import ARM_COMMAND_TOPIC
from chatvla2.paths import config_dir


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=config_dir() / "sim.yaml",
                        help="ROS parameter file of the stack (default: config/sim.yaml)")
    parser.add_argument("--steps", type=int, default=20,
                        help="stop after this many action chunks; 0 runs until Ctrl-C")
    parser.add_argument("--instruction", default="pick the card that answers the equation on the board",
                        help="task instruction published on /chatvla/instruction (a MuJoCo scene brings its own)")
    parser.add_argument("--trials", type=int, default=0,
                        help="MuJoCo backend: run this many scenes (seeds from the parameter file's on), "
                             "a fresh stack each, and report per trial whether the right card was picked; "
                             "exits 1 when any trial fails")
    parser.add_argument("--trial-seconds", type=float, default=15.0,
                        help="simulated seconds before a trial counts as failed")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"),
                        help="folder for the per-trial PNG strips")


def run(args: argparse.Namespace) -> int:
    from chatvla2.ros.stack import run_stack, run_trials

    if args.trials > 0:
        picked = run_trials(args.params, args.trials, args.trial_seconds, args.out)
        return 0 if picked and all(picked) else 1  # a failed trial fails the command (CI, scripts)
    return run_stack(args.params, args.steps, args.instruction)


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, help="bag directory to create (default: rosbag2_chatvla2_<date>)")
    parser.add_argument("--cameras", nargs="+", default=["front"], help="camera names to record")
    parser.add_argument("--command-topic", default=ARM_COMMAND_TOPIC, help="arm command topic to record")
    parser.add_argument("--joint-state-topics", nargs="+", default=["joint_states"],
                        help="JointState topics to record (Franka: /franka/joint_states /franka_gripper/joint_states)")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds to record; 0 records until Ctrl-C")


def run_record(args: argparse.Namespace) -> int:
    from chatvla2.ros.recorder_node import default_bag_path, record

    path = record(args.out or Path(default_bag_path()), args.cameras, args.command_topic, args.duration,
                  args.joint_state_topics)
    print(f"bag written: {path}")
    return 0


COMMANDS = {
    "run": ("run the whole stack in one process (default: simulation, no robot)", add_run_arguments, run),
    "record": ("record the stack's topics to a rosbag2 MCAP bag", add_record_arguments, run_record),
}
