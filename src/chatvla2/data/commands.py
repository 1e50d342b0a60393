"""`chatvla2 gen-data`: scripted-expert episodes (or image-text QA files) from the simulator."""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from chatvla2.sim.commands import add_task_argument

    add_task_argument(parser, extra=("qa",), help="episodes of a task, or image-text QA files from the tasks' scenes")
    parser.add_argument("--episodes", type=int, required=True, help="how many files to write")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--split", default="train", choices=("train", "heldout", "cardswap", "reading"),
                        help="reading: image-text QA on boards that are no task equation (--task qa only)")
    parser.add_argument("--seed", type=int, default=0, help="first episode seed; episode i uses seed + i")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--image-size", type=int, default=224, help="square camera images, pixels")
    parser.add_argument("--answer-place", choices=("first", "second", "third"),
                        help="math: only scenes whose answer card is at this place in the row, the seeds "
                             "taken in order from --seed (the scene sampler is unchanged)")
    parser.add_argument("--lift", default="answer", choices=("answer", "any-card", "rightmost-card"),
                        help="math: lift the answer card, or any-card: named-card episodes (a card drawn "
                             "by the seed, named by the reasoning; stage-2 head data, files named_*.hdf5), "
                             "or rightmost-card: named-card episodes of the card in the rightmost slot "
                             "(never a training answer), the seeds whose scene has one taken in order")
    parser.add_argument("--dagger-policy", metavar="MODEL_DIR",
                        help="math: DAgger episodes (files dagger_*.hdf5): this model drives closed loop "
                             "until a hand-over step drawn by the seed (8-64), then the expert finishes from "
                             "that state; training uses the expert's rows only. Scenes the model solved "
                             "before the hand-over are not written")
    parser.add_argument("--handover-steps", type=int, nargs="+", metavar="STEP",
                        help="with --dagger-policy: the control steps the hand-over is drawn from "
                             "(default 8 16 ... 64)")


def run(args: argparse.Namespace) -> int:
    from chatvla2.data.episode_dataset import check_all, episode_paths
    from chatvla2.data.recording import EpisodeJob, generate_episodes

    if args.episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {args.episodes}")
    if args.split == "reading" and args.task != "qa":
        raise ValueError("--split reading holds image-text boards only: use it with --task qa")
    if args.answer_place is not None and args.task != "math":
        raise ValueError(f"--answer-place {args.answer_place} places an answer card: use it with --task math")
    if args.lift != "answer" and args.task != "math":
        raise ValueError(f"--lift {args.lift} names a card: use it with --task math")
    if args.dagger_policy is not None:
        from chatvla2.paths import resolve_data_path

        if args.task != "math" or args.lift != "answer":
            raise ValueError("--dagger-policy records answer-lifting math episodes: use it with --task math "
                             "and without a named-card --lift")
        if not resolve_data_path(args.dagger_policy).is_dir():
            raise FileNotFoundError(f"--dagger-policy '{args.dagger_policy}' is not a model directory")
        if args.handover_steps is not None and min(args.handover_steps) < 1:
            raise ValueError(f"--handover-steps must be positive control steps, got {args.handover_steps}")
    elif args.handover_steps is not None:
        raise ValueError("--handover-steps chooses when a --dagger-policy hands over: give a policy")
    if args.task == "qa":
        # The registered tasks in turn, each on the split where it has it (else its training split).
        from chatvla2.sim.tasks import get_task, task_names

        cycle = [name for name in task_names() if args.split in get_task(name).splits]
        if not cycle:
            raise ValueError(f"no task has the split '{args.split}'")
        tasks = [cycle[i % len(cycle)] for i in range(args.episodes)]
        jobs = [EpisodeJob(t, args.seed + i, args.split if args.split in get_task(t).splits else "train", args.out,
                           args.image_size, question_answers=True) for i, t in enumerate(tasks)]
    else:
        if args.answer_place is not None and args.lift == "rightmost-card":
            raise ValueError("--answer-place and --lift rightmost-card both choose the seeds: use one")
        seeds = (seeds_with_answer_place(args.split, args.seed, args.episodes, args.answer_place)
                 if args.answer_place is not None else
                 seeds_with_rightmost_card(args.split, args.seed, args.episodes) if args.lift == "rightmost-card"
                 else range(args.seed, args.seed + args.episodes))
        jobs = [EpisodeJob(args.task, seed, args.split, args.out, args.image_size, lift=args.lift,
                           dagger_policy=args.dagger_policy, handover_steps=tuple(args.handover_steps or ()))
                for seed in seeds]
    start = time.perf_counter()
    results = generate_episodes(jobs, workers=args.workers)
    elapsed_s = time.perf_counter() - start
    written = [(path, ok) for path, ok in results if path]
    successes = sum(ok for _, ok in written)
    print(f"wrote {len(written)} files to {args.out} in {elapsed_s:.1f} s "
          f"({elapsed_s / len(results):.2f} s per job, {args.workers} workers)")
    if args.dagger_policy is not None:
        print(f"DAgger: {len(results) - len(written)} of {len(results)} scenes not written (the model "
              f"solved it before the hand-over, or the expert could not plan from where it stopped)")
    if args.task != "qa" and written:
        lifted = "the answer card" if args.lift == "answer" else "the named card"
        print(f"expert success ({lifted} lifted): {successes}/{len(written)} = {successes / len(written):.1%}")
        usable, skipped = check_all(episode_paths([p for p, _ in written]))
        print(f"integrity check: {len(usable)} files load back, {len(skipped)} rejected")
        return 1 if skipped else 0
    return 0


def seeds_with_answer_place(split: str, first_seed: int, count: int, place: str) -> list[int]:
    """The first `count` seeds from `first_seed` whose math scene has its answer at `place` in the row.
    A split that (almost) never puts its answer there is an error, not an endless search."""
    from chatvla2.sim.scenes import ORDINALS
    from chatvla2.sim.tasks.math_cards import sample_math_scene

    seeds, seed, last_seed = [], first_seed, first_seed + 100 * count + 1000
    while len(seeds) < count:
        if seed > last_seed:
            raise ValueError(f"only {len(seeds)} of seeds {first_seed}..{last_seed} put the {split} split's answer "
                             f"{place} in the row: the split does not use that place (card-swap: always third)")
        scene = sample_math_scene(seed, split)
        if ORDINALS[scene.answer_place] == place:
            seeds.append(seed)
        seed += 1
    return seeds


def seeds_with_rightmost_card(split: str, first_seed: int, count: int) -> list[int]:
    """The first `count` seeds from `first_seed` whose math scene has a card in the rightmost slot."""
    from chatvla2.sim.tasks.math_cards import sample_math_scene
    from chatvla2.sim.splits import CARDSWAP_SLOT

    seeds, seed = [], first_seed
    while len(seeds) < count:  # three cards in four slots: about three scenes in four qualify
        if any(card.slot == CARDSWAP_SLOT for card in sample_math_scene(seed, split).cards):
            seeds.append(seed)
        seed += 1
    return seeds


COMMANDS = {
    "gen-data": ("generate scripted-expert episodes or image-text QA files in MuJoCo", add_arguments, run),
}
