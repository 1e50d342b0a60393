"""Build the policy the inference node serves: the placeholder, or a checkpoint behind the runtime.

A checkpoint directory is wrapped in the two-rate `AsyncReasoningRuntime` (or its sync mode); the
caller owns the result and calls `close_policy` when done (the async runtime holds a thread).
"""
from __future__ import annotations

from chatvla2.control.robot import RobotSpec
from chatvla2.paths import resolve_data_path
from chatvla2.policy.interface import Policy
from chatvla2.policy.placeholder import PlaceholderPolicy
from chatvla2.policy.runtime import AsyncReasoningRuntime, RuntimeConfig


def build_policy(spec: str, robot: RobotSpec, config: RuntimeConfig, device: str = "cpu",
                 torch_threads: int = 0) -> Policy:
    """spec: 'placeholder' or a local checkpoint directory (Hugging Face layout).
    torch_threads > 0 sets torch's CPU thread count (0 keeps torch's default)."""
    if spec == "placeholder":
        return PlaceholderPolicy(robot)
    path = resolve_data_path(spec)
    if not path.is_dir():
        raise FileNotFoundError(
            f"policy checkpoint directory '{path}' does not exist: set the 'policy' parameter to a "
            f"local model directory (config.json, model.safetensors, ...) or to 'placeholder'")
    import torch

    from chatvla2.policy.runtime_model import ChatVLA2TwoRateModel

    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    return AsyncReasoningRuntime(ChatVLA2TwoRateModel.from_checkpoint(path, robot, device), config)


def close_policy(policy: Policy) -> None:
    close = getattr(policy, "close", None)
    if close is not None:
        close()
