"""`chatvla2 bench`: inference speed of the naive baseline vs our runtime (sync, async), one run.

torch and the model are imported only when the command runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chatvla2.model.config import LOCATOR_QUERIES

RESULTS = Path("benchmarks") / "RESULTS.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=("tiny", "paper"), default="tiny", help="model size (random weights)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--reasoning-tokens", type=int, default=32, help="tokens decoded per reasoning (fixed)")
    parser.add_argument("--frames", type=int, default=150, help="frames timed for the async runtime")
    parser.add_argument("--naive-frames", type=int, default=10, help="frames timed for the naive and sync paths")
    parser.add_argument("--refresh-every-frames", type=int, default=30, help="async: reasoning refresh period K")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per row; the table shows the run with the median chunk rate")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="run in bfloat16 (default: on for cuda, off for cpu)")
    parser.add_argument("--token-attention", action="store_true",
                        help="the head cross-attends to the VLM's token states (action_head.token_attention)")
    parser.add_argument("--target-locator", action="store_true",
                        help="the head locates the named card among the VLM's token states (action_head.target_locator)")
    parser.add_argument("--locator-query", choices=LOCATOR_QUERIES, default="clause",
                        help="with --target-locator: what its pointer's query is built from (action_head.locator_query)")
    parser.add_argument("--compile-head", action="store_true", help="torch.compile the action head's token path (CPU needs a C++ compiler; compiling takes ~1 min)")
    parser.add_argument("--results", default=str(RESULTS), help="markdown file the table is appended to ('' = none)")
    parser.add_argument("--notes", default="", help="text appended under the table")


def run(args: argparse.Namespace) -> int:
    import torch

    from chatvla2.control.robot import load_robot_spec
    from chatvla2.policy.speed_benchmark import append_results, format_table, run_speed_benchmark

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"device '{args.device}' requested but torch sees no CUDA device", file=sys.stderr)
        return 2
    if args.locator_query != "clause" and not args.target_locator:
        print(f"--locator-query {args.locator_query} configures a target locator: add --target-locator", file=sys.stderr)
        return 2
    if args.repeats < 1:
        print(f"--repeats must be >= 1, got {args.repeats}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    bf16 = args.device.startswith("cuda") if args.bf16 is None else args.bf16
    robot = load_robot_spec("franka_fr3")
    rows = run_speed_benchmark(args.preset, args.device, args.reasoning_tokens, args.frames, args.naive_frames,
                               args.refresh_every_frames, bf16, args.compile_head, robot,
                               repeats=args.repeats, token_attention=args.token_attention,
                               target_locator=args.target_locator, locator_query=args.locator_query)
    print(format_table(rows))
    if args.results:
        command = " ".join(["chatvla2 bench"] + sys.argv[2:]) if sys.argv[1:2] == ["bench"] else " ".join(sys.argv)
        append_results(args.results, rows, args.preset, args.device, command, args.notes)
        print(f"appended to {args.results}")
    return 0


COMMANDS = {"bench": ("inference speed: naive baseline vs our runtime (sync, async)", add_arguments, run)}
