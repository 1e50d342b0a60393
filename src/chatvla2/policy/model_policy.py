"""`ModelPolicy`: the ChatVLA-2 model behind the `Policy` interface, synchronously.

Every `infer(observation)` reasons, then acts: it generates the reasoning text (KV cache, greedy)
and samples one action chunk conditioned on it. No caching between calls and no threads: the fast
asynchronous runtime wraps the model separately. The robot state fed to the model is the
observation's joint positions reordered as `robot.command_names` (7 arm joints + gripper opening);
the chunk comes back in the same order, in absolute joint targets (rad, m).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.policy.interface import Observation, PolicyOutput


class ModelPolicy:
    def __init__(self, model, robot: RobotSpec, seed: int = 0) -> None:
        names = robot.command_names
        head = model.config.action_head
        if head.action_dim != len(names) or head.state_dim != len(names):
            raise ValueError(f"model acts on {head.action_dim} values from a {head.state_dim}-value state, "
                             f"robot '{robot.name}' commands {len(names)}: {names}")
        self.model, self.robot, self.seed = model.eval(), robot, seed
        self.generator = torch.Generator().manual_seed(seed)

    @classmethod
    def from_checkpoint(cls, directory: str | Path, robot: RobotSpec, device: str = "cpu") -> "ModelPolicy":
        from chatvla2.model.chatvla2 import ChatVLA2Model

        return cls(ChatVLA2Model.from_pretrained(directory, device=device), robot)

    def reset(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)

    def state_of(self, observation: Observation) -> np.ndarray:
        return columns_by_name(observation.joint_names, observation.joint_positions, self.robot.command_names,
                               "observation")  # (A,)

    def infer(self, observation: Observation) -> PolicyOutput:
        if not observation.images:
            raise ValueError("observation has no camera images")
        state = self.state_of(observation)
        started = time.perf_counter()
        reasoning = self.model.generate_reasoning(observation.images, observation.instruction)
        reasoned = time.perf_counter()
        chunk = self.model.sample_actions(reasoning.observation_embedding, reasoning.embedding, state,
                                          generator=self.generator)  # (1, H, A)
        acted = time.perf_counter()
        actions = chunk[0].double().cpu().numpy()  # (H, A)
        if not np.all(np.isfinite(actions)):
            raise ValueError("model produced non-finite actions")
        return PolicyOutput(reasoning=reasoning.text, joint_names=self.robot.command_names, actions=actions,
                            step_dt_s=self.model.config.step_dt_s,
                            info={"reasoning_s": reasoned - started, "action_s": acted - reasoned,
                                  "reasoning_tokens": float(len(reasoning.token_ids))})
