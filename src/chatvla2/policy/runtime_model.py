"""`ChatVLA2Model` seen as a `TwoRateModel`: per-frame encoding, greedy reasoning, DDIM acting.

Prefill and greedy decoding are the model's own (`chatvla2.model.decoding`, also behind
`ChatVLA2Model.generate_reasoning`); this wrapper adds what the robot's runtime needs on top:
- the async runtime runs the reasoning thread and the per-frame path at the same time, while the
  backbone keeps per-call state (the MoE routing context): every backbone forward takes
  `backbone_lock` for one step only (a prefill, or one decoded token), so a 30-token reasoning
  never blocks a frame for more than one token's time;
- the per-frame encoding that only feeds the action head builds no KV cache;
- uploads go through pinned memory on CUDA, everything runs under `torch.inference_mode`, and the
  whole model can run in bf16 (`dtype`), with the head optionally `torch.compile`d on CUDA.
Outputs are in the robot's units and order (`RobotSpec.command_names`).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.model.decoding import PREFILL_INPUTS, Prefilled, ReasoningStates, decode_greedy, prefill
from chatvla2.policy.interface import Observation


class ChatVLA2TwoRateModel:
    def __init__(self, model, robot: RobotSpec, denoising_steps: int | None = None,
                 dtype: torch.dtype | None = None, compile_head: bool = False, seed: int = 0,
                 stop_at_end: bool = True, precomputed_conditions: bool = True) -> None:
        head = model.config.action_head
        if head.action_dim != len(robot.command_names) or head.state_dim != len(robot.command_names):
            raise ValueError(f"model acts on {head.action_dim} values and reads {head.state_dim}, robot "
                             f"'{robot.name}' has {len(robot.command_names)} command values")
        self.model = model.eval()
        if dtype is not None:
            self.model.to(dtype)
        if compile_head:
            # The token path: what runs at every denoising step (conditions are computed once per chunk).
            self.model.head.tokens = torch.compile(self.model.head.tokens, mode="max-autotune-no-cudagraphs")
        self.robot = robot
        self.joint_names = robot.command_names
        self.step_dt_s = float(model.config.step_dt_s)
        self.denoising_steps = denoising_steps or head.inference_steps
        self.seed = seed
        self.stop_at_end = stop_at_end  # False: always decode max_new_tokens (fixed-cost benchmarks)
        self.precomputed_conditions = precomputed_conditions  # False: the benchmark's per-step baseline
        self.backbone_lock = threading.Lock()
        self.dtype = next(model.head.parameters()).dtype
        self.pinned = model.device.type == "cuda"

    @classmethod
    def from_checkpoint(cls, directory: Path, robot: RobotSpec, device: str = "cpu",
                        **options) -> "ChatVLA2TwoRateModel":
        from chatvla2.model.chatvla2 import ChatVLA2Model

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device '{device}' requested but torch sees no CUDA device")
        dtype = torch.bfloat16 if device.startswith("cuda") else None
        return cls(ChatVLA2Model.from_pretrained(directory, device), robot, dtype=dtype, **options)

    def upload(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        device = self.model.device
        out = {}
        for key in PREFILL_INPUTS:
            if key in batch:
                value = batch[key].pin_memory() if self.pinned else batch[key]
                out[key] = value.to(device, non_blocking=self.pinned)
        if "pixel_values" in out:
            out["pixel_values"] = out["pixel_values"].to(self.dtype)
        return out

    def encode(self, observation: Observation, keep_cache: bool = False) -> Prefilled:
        inputs = self.upload(self.model.processor(observation.images, observation.instruction))
        return prefill(self.model, inputs, keep_cache, self.backbone_lock)

    def reason(self, encoded: Prefilled, max_new_tokens: int) -> tuple[str, ReasoningStates]:
        """Greedy decoding from the prompt's KV cache. -> (text, the tokens' hidden states and mean)."""
        tokens, reasoning = decode_greedy(self.model, encoded, max_new_tokens, self.backbone_lock, self.stop_at_end)
        return self.model.processor.decode(tokens), reasoning

    def state_of(self, observation: Observation) -> np.ndarray:
        return columns_by_name(observation.joint_names, observation.joint_positions, self.joint_names,
                               "observation (joints the model reads)")  # (S,)

    @torch.inference_mode()
    def act(self, encoded: Prefilled, reasoning: ReasoningStates, observation: Observation,
            inpaint: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """(H, A) absolute targets. A fixed seed per call keeps chunks repeatable for one input.
        inpaint: real-time chunking's (target (H, A), weights (H,)), see realtime_chunking.py. A head
        that reads tokens (token attention, a target locator) reads this frame's prompt tokens and
        the reasoning's tokens."""
        state = torch.as_tensor(self.state_of(observation), dtype=self.dtype)
        generator = torch.Generator(device=self.model.device).manual_seed(self.seed)
        context = (self.model.inference_context(encoded, reasoning)
                   if self.model.config.action_head.reads_tokens else None)
        actions = self.model.sample_actions(encoded.observation_embedding, reasoning.embedding, state,
                                            generator=generator, steps=self.denoising_steps,
                                            precomputed_conditions=self.precomputed_conditions,
                                            inpaint=inpaint, context=context)  # (1, H, A)
        return actions[0].float().cpu().numpy()
