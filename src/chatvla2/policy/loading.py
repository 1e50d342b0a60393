"""Build the policy a configuration names: `placeholder` or a path to a model checkpoint."""
from __future__ import annotations

from chatvla2.control.robot import RobotSpec
from chatvla2.paths import resolve_data_path
from chatvla2.policy.interface import Policy
from chatvla2.policy.placeholder import PlaceholderPolicy


def load_policy(spec: str, robot: RobotSpec) -> Policy:
    if spec == "placeholder":
        return PlaceholderPolicy(robot)
    path = resolve_data_path(spec)
    if path.is_dir():
        from chatvla2.policy.model_policy import ModelPolicy

        return ModelPolicy.from_checkpoint(path, robot)
    raise ValueError(f"unknown policy '{spec}': use 'placeholder' or a model checkpoint directory")
