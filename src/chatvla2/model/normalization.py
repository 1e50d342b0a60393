"""Action and state normalisation statistics, stored with the checkpoint (action_stats.json).

Actions are min-max scaled per dimension to [-1, 1] (the diffusion sampler clips there); the robot
state is z-scored. Dimensions whose range or spread is ~0 (e.g. a gripper that never moved in the
data) are left centred instead of divided by zero.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

EPSILON = 1e-6
FIELDS = ("action_min", "action_max", "state_mean", "state_std")


@dataclass
class ActionStats:
    action_min: np.ndarray  # (A,)
    action_max: np.ndarray  # (A,)
    state_mean: np.ndarray  # (S,)
    state_std: np.ndarray  # (S,)

    @classmethod
    def identity(cls, action_dim: int, state_dim: int) -> "ActionStats":
        return cls(-np.ones(action_dim), np.ones(action_dim), np.zeros(state_dim), np.ones(state_dim))

    @classmethod
    def from_data(cls, actions: np.ndarray, states: np.ndarray) -> "ActionStats":
        """actions (N, A), states (N, S): every row of the training set."""
        actions, states = np.asarray(actions, float), np.asarray(states, float)
        return cls(actions.min(0), actions.max(0), states.mean(0), states.std(0))

    def normalize_actions(self, actions: torch.Tensor) -> torch.Tensor:
        low, high = self.tensor("action_min", actions), self.tensor("action_max", actions)
        span = (high - low).clamp_min(EPSILON)
        return 2.0 * (actions - low) / span - 1.0

    def unnormalize_actions(self, scaled: torch.Tensor) -> torch.Tensor:
        low, high = self.tensor("action_min", scaled), self.tensor("action_max", scaled)
        return (scaled + 1.0) / 2.0 * (high - low) + low

    def normalize_state(self, state: torch.Tensor) -> torch.Tensor:
        mean, std = self.tensor("state_mean", state), self.tensor("state_std", state)
        return (state - mean) / std.clamp_min(EPSILON)

    def tensor(self, name: str, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(getattr(self, name), dtype=like.dtype, device=like.device)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({name: np.asarray(getattr(self, name)).tolist() for name in FIELDS}, indent=2))

    @classmethod
    def load(cls, path: str | Path, action_dim: int, state_dim: int) -> "ActionStats":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint is missing {path.name} ({path})")
        try:
            raw = json.loads(path.read_text())
            values = {name: np.asarray(raw[name], dtype=float) for name in FIELDS}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path} is malformed: {error!r}") from None
        expected = {"action_min": action_dim, "action_max": action_dim, "state_mean": state_dim, "state_std": state_dim}
        for name, size in expected.items():
            if values[name].shape != (size,) or not np.all(np.isfinite(values[name])):
                raise ValueError(f"{path}: {name} must be {size} finite numbers, got {values[name].tolist()}")
        return cls(**values)
