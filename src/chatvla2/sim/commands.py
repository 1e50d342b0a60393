"""`chatvla2 eval`: run a policy (expert, random or a model) in the simulator and report."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_task_argument(parser: argparse.ArgumentParser, required: bool = True, extra: tuple[str, ...] = (),
                      help: str | None = None) -> None:
    """`--task`, its choices read from the task registry (chatvla2.sim.tasks)."""
    from chatvla2.sim.tasks import get_task, task_names

    names = task_names()
    parser.add_argument("--task", required=required, default=None if required else names[0], choices=names + extra,
                        help=help or "; ".join(f"{name}: {get_task(name).summary}" for name in names))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from chatvla2.sim.tasks import get_task, task_names

    add_task_argument(parser)
    parser.add_argument("--split", default="heldout", help="a split of the task's sampler: " + "; ".join(
        f"{name}: {', '.join(get_task(name).splits)}" for name in task_names()))
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--policy", default="expert",
                        help="expert | random | habit (always the habitual training place) | a model directory")
    parser.add_argument("--seed", type=int, default=100000, help="first episode seed")
    parser.add_argument("--robot", default="franka_fr3")
    parser.add_argument("--max-steps", type=int, default=120, help="control steps per episode (0.1 s each)")
    parser.add_argument("--execute-steps", type=int, default=8, help="chunk rows executed before re-querying")
    parser.add_argument("--contact-sheet", type=Path, help="save a PNG of the episodes' front camera")
    parser.add_argument("--save-video", type=Path, help="save an MP4 of the first episode's front camera")
    parser.add_argument("--image-size", type=int, default=224)
    add_mode_argument(parser)


def add_mode_argument(parser: argparse.ArgumentParser, default: str = "sync") -> None:
    parser.add_argument("--mode", choices=("sync", "async"), default=default,
                        help="runtime mode of a model policy: sync reasons then acts on every call "
                             "(deterministic, the paper's evaluation mode); async is the robot's")
    parser.add_argument("--reasoning-every", type=int, metavar="N",
                        help="a model policy regenerates its reasoning every N policy calls, 0: only when "
                             "the instruction arrives, as stage 2 trains the head (default: sync every call, "
                             "async every 30 frames or on a scene change); turns the scene-change test off")


def make_policy(spec: str, env, robot, mode: str = "sync", reasoning_every: int | None = None):
    """expert | habit | random (scripted, need the scene) or what `load_policy` loads, in `mode`,
    with the reasoning regenerated every `reasoning_every` calls (None: the mode's default)."""
    from chatvla2.policy.loading import load_policy
    from chatvla2.policy.reasoning_scheduler import ReasoningScheduleConfig
    from chatvla2.policy.runtime import RuntimeConfig
    from chatvla2.sim.baselines import HabitPolicy, RandomPolicy
    from chatvla2.sim.expert import ExpertPolicy

    if spec == "expert":
        return ExpertPolicy(env)
    if spec == "habit":
        return HabitPolicy(env)
    if spec == "random":
        return RandomPolicy(robot, step_dt_s=env.config.control_dt_s)
    schedule = (None if reasoning_every is None else
                ReasoningScheduleConfig(refresh_every_frames=reasoning_every, scene_change_threshold=0.0))
    return load_policy(spec, robot, RuntimeConfig(mode=mode, schedule=schedule))


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from chatvla2.control.robot import load_robot_spec
    from chatvla2.policy.loading import close_policy, policy_mode
    from chatvla2.sim.contact_sheet import contact_sheet, save_png, save_video
    from chatvla2.sim.env import SimConfig, TaskEnv
    from chatvla2.sim.episode import run_episode, summarize
    from chatvla2.sim.scenes import ORDINALS

    robot = load_robot_spec(args.robot)
    env = TaskEnv(robot, SimConfig(image_height_px=args.image_size, image_width_px=args.image_size))
    policy = make_policy(args.policy, env, robot, args.mode, args.reasoning_every)
    print(f"policy {args.policy}: {policy_mode(policy)}")
    keep_every = 8 if (args.contact_sheet or args.save_video) else 0
    results = []
    for i in tqdm(range(args.episodes), desc=f"eval {args.policy}", unit="ep"):
        result = run_episode(env, policy, args.task, args.seed + i, args.split, max_steps=args.max_steps,
                             query_every_steps=args.execute_steps, keep_frames_every=keep_every if i < 6 else 0)
        results.append(result)
        verdict = "success" if result.success else f"FAIL ({result.reason})"
        tqdm.write(f"seed {result.seed}: {verdict} after {result.steps} steps | reasoning: "
                   f"{result.reasoning!r} | expected: {result.expected_reasoning!r}")
    close_policy(policy)
    summary = summarize(results)
    print(f"{args.task}/{args.split} policy={args.policy}: success {summary['success_rate']:.1%} "
          f"over {summary['episodes']} episodes; failures: {summary['failures'] or 'none'}")
    if summary["by_answer_place"]:
        print("success by answer place: " + ", ".join(
            f"{ORDINALS[place]} from the left {won}/{count}" for place, (won, count) in summary["by_answer_place"].items()))
    shown = [r for r in results if r.frames]
    if args.contact_sheet and shown:
        captions = [f"seed {r.seed} {'ok' if r.success else r.reason}: {r.reasoning or r.expected_reasoning}"
                    for r in shown]
        rows = [[r.frames[i] for i in np.linspace(0, len(r.frames) - 1, min(6, len(r.frames))).astype(int)]
                for r in shown]
        print(f"contact sheet: {save_png(contact_sheet(rows, captions), args.contact_sheet)}")
    if args.save_video and shown:
        print(f"video: {save_video(shown[0].frames, args.save_video, fps=10.0 / 8)}")
    return 0


COMMANDS = {
    "eval": ("evaluate a policy (expert, random, model dir) in the MuJoCo task scenes", add_arguments, run),
}
