"""`chatvla2 gen-data`: scripted-expert episodes (or image-text QA files) from the simulator."""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=("math", "placement", "qa"),
                        help="episodes of a task, or image-text QA files from both tasks' scenes")
    parser.add_argument("--episodes", type=int, required=True, help="how many files to write")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--split", default="train", choices=("train", "heldout", "cardswap", "reading"),
                        help="reading: image-text QA on boards that are no task equation (--task qa only)")
    parser.add_argument("--seed", type=int, default=0, help="first episode seed; episode i uses seed + i")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--image-size", type=int, default=224, help="square camera images, pixels")


def run(args: argparse.Namespace) -> int:
    from chatvla2.data.episode_dataset import check_all, episode_paths
    from chatvla2.data.recording import EpisodeJob, generate_episodes

    if args.episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {args.episodes}")
    if args.split == "reading" and args.task != "qa":
        raise ValueError("--split reading holds image-text boards only: use it with --task qa")
    if args.task == "qa":
        tasks = ["math" if i % 2 == 0 or args.split == "reading" else "placement" for i in range(args.episodes)]
        split_of = {"math": args.split, "placement": "train" if args.split == "cardswap" else args.split}
        jobs = [EpisodeJob(t, args.seed + i, split_of[t], args.out, args.image_size, question_answers=True)
                for i, t in enumerate(tasks)]
    else:
        jobs = [EpisodeJob(args.task, args.seed + i, args.split, args.out, args.image_size)
                for i in range(args.episodes)]
    start = time.perf_counter()
    results = generate_episodes(jobs, workers=args.workers)
    elapsed_s = time.perf_counter() - start
    successes = sum(ok for _, ok in results)
    print(f"wrote {len(results)} files to {args.out} in {elapsed_s:.1f} s "
          f"({elapsed_s / len(results):.2f} s per file, {args.workers} workers)")
    if args.task != "qa":
        print(f"expert success: {successes}/{len(results)} = {successes / len(results):.1%}")
        usable, skipped = check_all(episode_paths([p for p, _ in results]))
        print(f"integrity check: {len(usable)} files load back, {len(skipped)} rejected")
        return 1 if skipped else 0
    return 0


COMMANDS = {
    "gen-data": ("generate scripted-expert episodes or image-text QA files in MuJoCo", add_arguments, run),
}
