"""`ChatVLA2Model` seen as a `TwoRateModel`: per-frame encoding, greedy reasoning, DDIM acting.

Why this wrapper and not `ChatVLA2Model.generate_reasoning` directly:
- the async runtime runs the reasoning thread and the per-frame path at the same time, while the
  backbone keeps per-call state (`vlm.model.rope_deltas`, the MoE routing context). Here every
  backbone forward takes `backbone_lock` for one step only (a prefill, or one decoded token), and
  M-RoPE positions are computed and passed explicitly, so neither thread reads the other's state
  and a 30-token reasoning never blocks a frame for more than one token's time;
- the per-frame encoding that only feeds the action head builds no KV cache;
- uploads go through pinned memory on CUDA, everything runs under `torch.inference_mode`, and the
  whole model can run in bf16 (`dtype`), with the head optionally `torch.compile`d on CUDA.
Outputs are in the robot's units and order (`RobotSpec.command_names`).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from chatvla2.control.joint_order import columns_by_name
from chatvla2.control.robot import RobotSpec
from chatvla2.policy.interface import Observation

VLM_INPUTS = ("input_ids", "mm_token_type_ids", "pixel_values", "image_grid_thw")


@dataclass
class Encoded:
    """One prefilled observation. observation_embedding (1, D); with a cache, the state to decode from."""

    observation_embedding: torch.Tensor
    last_hidden: torch.Tensor | None = None  # (1, D) hidden state of the last prompt token
    cache: object | None = None  # transformers DynamicCache holding the prompt
    rope_delta: torch.Tensor | None = None  # (1, 1) M-RoPE offset of text positions after the prompt
    length: int = 0  # prompt tokens


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
        self.end_id = model.processor.im_end_id
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
        for key in VLM_INPUTS:
            if key in batch:
                value = batch[key].pin_memory() if self.pinned else batch[key]
                out[key] = value.to(device, non_blocking=self.pinned)
        if "pixel_values" in out:
            out["pixel_values"] = out["pixel_values"].to(self.dtype)
        return out

    @torch.inference_mode()
    def encode(self, observation: Observation, keep_cache: bool = False) -> Encoded:
        from transformers import DynamicCache

        from chatvla2.model.backbone import routing_context

        inputs = self.upload(self.model.processor(observation.images, observation.instruction))
        vlm = self.model.vlm
        position_ids, rope_delta = vlm.model.get_rope_index(
            inputs["input_ids"], inputs["mm_token_type_ids"], image_grid_thw=inputs.get("image_grid_thw"))
        cache = DynamicCache(config=vlm.config.text_config) if keep_cache else None
        with self.backbone_lock, routing_context(vlm, inputs["mm_token_type_ids"]):
            hidden = vlm.model(**inputs, position_ids=position_ids, past_key_values=cache,
                               use_cache=keep_cache).last_hidden_state  # (1, T, D)
        return Encoded(observation_embedding=hidden.mean(dim=1), last_hidden=hidden[:, -1],
                       cache=cache, rope_delta=rope_delta, length=hidden.shape[1])

    @torch.inference_mode()
    def reason(self, encoded: Encoded, max_new_tokens: int) -> tuple[str, torch.Tensor]:
        """Greedy decoding from the prompt's KV cache. -> (text, (1, D) mean hidden of the tokens)."""
        if encoded.cache is None:
            raise ValueError("reason() needs an encoding made with keep_cache=True")
        vlm, device = self.model.vlm, self.model.device
        logits = vlm.lm_head(encoded.last_hidden)  # (1, V)
        token = torch.empty((1, 1), dtype=torch.long, device=device)
        hidden_sum = torch.zeros_like(encoded.observation_embedding)  # (1, D)
        tokens: list[int] = []
        for index in range(max_new_tokens):
            token.copy_(logits.argmax(dim=-1, keepdim=True))
            if self.stop_at_end and int(token) == self.end_id:
                break
            tokens.append(int(token))
            position = (encoded.length + index + encoded.rope_delta).view(1, 1, 1).expand(3, 1, 1)  # (3, 1, 1)
            with self.backbone_lock:
                step = vlm.model(input_ids=token, position_ids=position, past_key_values=encoded.cache,
                                 use_cache=True).last_hidden_state[:, -1]  # (1, D)
            hidden_sum += step
            logits = vlm.lm_head(step)
        embedding = hidden_sum / max(len(tokens), 1)  # zeros when no token was generated
        return self.model.processor.decode(tokens), embedding

    def state_of(self, observation: Observation) -> np.ndarray:
        return columns_by_name(observation.joint_names, observation.joint_positions, self.joint_names,
                               "observation (joints the model reads)")  # (S,)

    @torch.inference_mode()
    def act(self, encoded: Encoded, reasoning_embedding: torch.Tensor, observation: Observation) -> np.ndarray:
        """(H, A) absolute targets. A fixed seed per call keeps chunks repeatable for one input."""
        state = torch.as_tensor(self.state_of(observation), dtype=self.dtype)
        generator = torch.Generator(device=self.model.device).manual_seed(self.seed)
        actions = self.model.sample_actions(encoded.observation_embedding, reasoning_embedding, state,
                                            generator=generator, steps=self.denoising_steps,
                                            precomputed_conditions=self.precomputed_conditions)  # (1, H, A)
        return actions[0].float().cpu().numpy()
