"""The one way to get a policy: `load_policy(spec, robot, runtime)`, for every consumer.

The inference node, `chatvla2 run`, `eval`, `eval-table`, `replay` and the demo all call this, so
what evaluation and replay measure is the code that drives the arm: a checkpoint directory is
wrapped in `ChatVLA2TwoRateModel` behind `AsyncReasoningRuntime`, in the mode `runtime.mode` says
('async': reasoning on a background thread, the robot's default; 'sync': reason then act on every
call, deterministic, the paper's evaluation mode). 'placeholder' is the model-free policy.
The caller owns the result and calls `close_policy` when done (the async runtime holds a thread).
The speed benchmark's naive baseline (HF `generate` + plain denoising) stays separate, in
`policy/speed_benchmark.py`.
"""
from __future__ import annotations

from pathlib import Path

from chatvla2.control.robot import RobotSpec
from chatvla2.paths import resolve_data_path
from chatvla2.policy.interface import Policy
from chatvla2.policy.placeholder import PlaceholderPolicy
from chatvla2.policy.runtime import AsyncReasoningRuntime, RuntimeConfig


def load_policy(spec: str, robot: RobotSpec, runtime: RuntimeConfig = RuntimeConfig(), device: str = "cpu",
                torch_threads: int = 0) -> Policy:
    """spec: 'placeholder' or a local checkpoint directory (Hugging Face layout).
    torch_threads > 0 sets torch's CPU thread count (0 keeps torch's default)."""
    if spec == "placeholder":
        return PlaceholderPolicy(robot)
    path = resolve_data_path(spec)
    if not path.is_dir():
        where = "" if Path(spec).expanduser().is_absolute() else (
            f" (a relative path is looked up under the working directory {Path.cwd()} and the package "
            "share; under ros2 launch pass an absolute path, e.g. policy:=$PWD/models/chatvla2-tiny)")
        raise FileNotFoundError(
            f"policy checkpoint directory '{path}' does not exist{where}: give a local model directory "
            f"(config.json, model.safetensors, ...) or 'placeholder'")
    import torch

    from chatvla2.policy.runtime_model import ChatVLA2TwoRateModel

    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    return AsyncReasoningRuntime(ChatVLA2TwoRateModel.from_checkpoint(path, robot, device), runtime)


def policy_mode(policy: Policy) -> str:
    """What a report says it measured: 'sync' or 'async' runtime (with its reasoning schedule when
    that is not the mode's default), or the policy's class."""
    config = getattr(policy, "config", None)
    if not isinstance(config, RuntimeConfig):
        return type(policy).__name__
    if config.schedule == RuntimeConfig(mode=config.mode).schedule:
        return f"{config.mode} runtime"
    every = config.schedule.refresh_every_frames
    when = "once per instruction" if every == 0 else f"every {every} frames"
    scene = ", or on a scene change" if config.schedule.scene_change_threshold > 0 else ""
    return f"{config.mode} runtime, reasoning {when}{scene}"


def close_policy(policy: Policy) -> None:
    close = getattr(policy, "close", None)
    if close is not None:
        close()
