"""`ChatVLA2Model`: one object that reasons in text and acts with a diffusion head.

Parts: `vlm` (transformers' Qwen2VLForConditionalGeneration with MoE FFNs, see backbone.py),
`head` (`ReasoningFollowingHead`), `scheduler` (`NoiseScheduler`), `processor`
(`ChatVLA2Processor`) and `action_stats` (`ActionStats`). Actions and states cross this API in
physical units (rad, m); normalisation happens inside.

Inference (reason, then act), batch of one observation:
    reasoning = model.generate_reasoning(images, instruction)   # greedy, KV cache (decoding.py)
    actions = model.sample_actions(reasoning.observation_embedding, reasoning.embedding,
                                   state, generator=torch.Generator().manual_seed(0))  # (1, H, A)
`embed_observation(images, instruction)` gives the observation embedding alone (one prefill, no
text), for a runtime that refreshes observations faster than it regenerates reasoning. A head that
reads tokens (`action_head.token_attention` or `target_locator`) also needs
`context=reasoning.context`, the token states behind both embeddings (`TokenContext`).

Training: `model(batch, state=..., actions=..., action_mask=...)` with `batch` from
`model.processor.collate([...encode(images, instruction, target_text)...])` returns
`ChatVLA2Output(loss, lm_loss, diffusion_loss, router_loss)`; loss is the config-weighted sum.

Embeddings: observation = mean of the last VLM hidden states over the prompt tokens (images and
instruction); reasoning = mean over the reasoning tokens (teacher-forced target text in training,
the generated tokens at inference; zeros when there are none). Checkpoints: `save_pretrained` /
`from_pretrained` / `upcycle_from_dense` in checkpoint.py, exposed here as methods.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from chatvla2.model import backbone, decoding
from chatvla2.model.action_head import ReasoningFollowingHead, TokenContext
from chatvla2.model.config import ChatVLA2Config, preset
from chatvla2.model.diffusion import NoiseScheduler
from chatvla2.model.moe import RoutingStats
from chatvla2.model.normalization import ActionStats
from chatvla2.model.crop_views import parse_crop_views
from chatvla2.model.processor import IGNORE_INDEX, ChatVLA2Processor, image_processor_for

TRAINING_INPUTS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")


@dataclass
class ChatVLA2Output:
    loss: torch.Tensor  # weighted sum of the three below
    lm_loss: torch.Tensor  # next-token cross-entropy on target (reasoning/answer) tokens
    diffusion_loss: torch.Tensor  # epsilon-prediction MSE on examples with actions
    router_loss: torch.Tensor  # mean load-balancing loss over MoE layers
    observation_embedding: torch.Tensor  # (B, D)
    reasoning_embedding: torch.Tensor  # (B, D)


@dataclass
class DecodedReasoning:
    text: str
    token_ids: list[int]
    embedding: torch.Tensor  # (1, D) mean hidden state of the generated tokens
    observation_embedding: torch.Tensor  # (1, D) mean hidden state of the prompt tokens
    context: TokenContext | None  # every prompt and generated token's hidden state (heads that read tokens; else None)


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """hidden (B, T, D), mask (B, T) bool -> (B, D); zeros where a row has no selected token."""
    weights = mask.to(hidden.dtype)[..., None]  # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class ChatVLA2Model(nn.Module):
    def __init__(self, config: ChatVLA2Config, processor: ChatVLA2Processor, vlm=None,
                 action_stats: ActionStats | None = None) -> None:
        super().__init__()
        self.config, self.processor = config, processor
        processor.crop_views = parse_crop_views(config.image_crops)  # the config decides, also on load
        self.vlm = vlm if vlm is not None else backbone.build_backbone(config)
        head = config.action_head
        self.head = ReasoningFollowingHead(head, config.text_hidden_size)
        self.scheduler = NoiseScheduler(head.train_timesteps)
        self.action_stats = action_stats or ActionStats.identity(head.action_dim, head.state_dim)

    @classmethod
    def from_preset(cls, name: str = "tiny", processor: ChatVLA2Processor | None = None, **overrides) -> "ChatVLA2Model":
        """Randomly initialised model of a preset; `overrides` replace top-level config fields.
        The tiny preset brings its own tokenizer; others need `processor` (the operator's Qwen2-VL)."""
        config = preset(name)
        for key, value in overrides.items():
            setattr(config, key, value)
        if processor is None:
            if name != "tiny":
                raise ValueError(f"preset '{name}' needs a processor built from a local Qwen2-VL directory")
            from chatvla2.model.tokenizer import build_tiny_tokenizer

            processor = ChatVLA2Processor(build_tiny_tokenizer(), image_processor_for(config.min_pixels, config.max_pixels, config.patch_size))
        return cls(config, processor)

    @property
    def device(self) -> torch.device:
        return self.vlm.lm_head.weight.device

    def set_action_stats(self, stats: ActionStats) -> None:
        head = self.config.action_head
        if np.shape(stats.action_min) != (head.action_dim,) or np.shape(stats.state_mean) != (head.state_dim,):
            raise ValueError(f"action stats must cover {head.action_dim} actions and {head.state_dim} states")
        self.action_stats = stats

    def routing_stats(self) -> list[RoutingStats]:
        """Per decoder layer routing of the last forward pass (tokens per expert, entropy)."""
        return backbone.routing_stats(self.vlm)

    def run_vlm(self, batch: dict[str, torch.Tensor], **kwargs):
        inputs = {key: batch[key].to(self.device) for key in TRAINING_INPUTS if key in batch}
        attention = inputs.get("attention_mask")
        with backbone.routing_context(self.vlm, inputs["mm_token_type_ids"], attention):
            return self.vlm.model(**inputs, **kwargs)

    def forward(self, batch: dict[str, torch.Tensor], state: torch.Tensor | None = None,
                actions: torch.Tensor | None = None, action_mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> ChatVLA2Output:
        """Training pass. state (B, S), actions (B, H, A) in physical units; action_mask (B,) bool
        marks the examples that carry actions (image-text examples have none)."""
        self.vlm.model.rope_deltas = None
        hidden = self.run_vlm(batch).last_hidden_state  # (B, T, D)
        labels = batch["labels"].to(self.device)
        shifted_labels = labels[:, 1:]  # token t predicts t + 1
        predicted = shifted_labels != IGNORE_INDEX  # (B, T-1)
        zero = hidden.sum() * 0.0
        if predicted.any():
            logits = self.vlm.lm_head(hidden[:, :-1][predicted])  # (N, V)
            lm_loss = F.cross_entropy(logits.float(), shifted_labels[predicted])
        else:
            lm_loss = zero
        observation = masked_mean(hidden, batch["prompt_mask"].to(self.device))  # (B, D)
        reasoning = masked_mean(hidden, batch["target_mask"].to(self.device))  # (B, D)
        diffusion_loss = zero
        if actions is not None:
            context = self.batch_context(batch, hidden) if self.config.action_head.reads_tokens else None
            diffusion_loss = self.diffusion_loss(observation, reasoning, state, actions, action_mask, generator,
                                                 context)
        router = backbone.router_loss(self.vlm)
        cfg = self.config
        loss = cfg.lm_loss_weight * lm_loss + cfg.diffusion_loss_weight * diffusion_loss + cfg.router_loss_weight * router
        return ChatVLA2Output(loss, lm_loss, diffusion_loss, router, observation, reasoning)

    def diffusion_loss(self, observation: torch.Tensor, reasoning: torch.Tensor, state: torch.Tensor | None,
                       actions: torch.Tensor, action_mask: torch.Tensor | None = None,
                       generator: torch.Generator | None = None, context: TokenContext | None = None,
                       target: torch.Tensor | None = None) -> torch.Tensor:
        """DDPM epsilon-prediction MSE. observation/reasoning (B, D), state (B, S), actions (B, H, A);
        `context`: the token states (a head that reads tokens); `target` (B, 2): the locator's
        output for a head with a target locator (located from `context` when None)."""
        head = self.config.action_head
        if state is None:
            raise ValueError("training with actions needs the robot state (B, state_dim)")
        if tuple(actions.shape[1:]) != (head.horizon, head.action_dim):
            raise ValueError(f"actions must be (B, {head.horizon}, {head.action_dim}), got {tuple(actions.shape)}")
        actions = actions.to(self.device, observation.dtype)
        scaled = self.action_stats.normalize_actions(actions)  # (B, H, A) in [-1, 1]
        state = self.action_stats.normalize_state(state.to(self.device, observation.dtype))  # (B, S)
        noise_device = generator.device if generator is not None else self.device
        noise = torch.randn(scaled.shape, generator=generator, device=noise_device, dtype=scaled.dtype).to(self.device)
        timesteps = self.scheduler.sample_timesteps(scaled.shape[0], noise_device, generator).to(self.device)
        noisy = self.scheduler.add_noise(scaled, noise, timesteps)
        if context is not None:
            context = context.to(self.device, observation.dtype)
        predicted = self.head(noisy, timesteps, state, observation, reasoning, context, target)  # (B, H, A)
        per_example = F.mse_loss(predicted, noise, reduction="none").mean(dim=(1, 2))  # (B,)
        if action_mask is None:
            return per_example.mean()
        mask = action_mask.to(self.device, per_example.dtype)
        return (per_example * mask).sum() / mask.sum().clamp_min(1.0)

    def batch_context(self, batch: dict[str, torch.Tensor], hidden: torch.Tensor) -> TokenContext:
        """The token context of a processor batch's last hidden states (B, T, D): its prompt and
        target tokens (a prefix of each row: the processor pads on the right), trimmed to the
        longest row."""
        inputs = {key: batch[key].to(self.device) for key in TRAINING_INPUTS if key in batch}
        positions, _ = self.vlm.model.get_rope_index(inputs["input_ids"], inputs["mm_token_type_ids"],
                                                     image_grid_thw=inputs.get("image_grid_thw"),
                                                     attention_mask=inputs.get("attention_mask"))  # (3, B, T)
        reasoning = batch["target_mask"].to(self.device)
        valid = batch["prompt_mask"].to(self.device) | reasoning
        length = int(valid.sum(dim=1).max())
        return TokenContext(hidden[:, :length], positions.permute(1, 2, 0)[:, :length], reasoning[:, :length],
                            valid[:, :length])

    def inference_context(self, prefilled: decoding.Prefilled, reasoning: decoding.ReasoningStates) -> TokenContext:
        """One observation's prompt tokens followed by a reasoning's tokens, placed right after this
        prompt as in training (the reasoning may have been decoded from an earlier frame)."""
        if prefilled.hidden is None or prefilled.position_ids is None:
            raise ValueError("token context needs a prefill that kept its hidden states")
        count = reasoning.states.shape[1]
        text = prefilled.length + prefilled.rope_delta.reshape(()) + torch.arange(count, device=self.device)
        positions = torch.cat([prefilled.position_ids[:, 0].T, text[:, None].expand(count, 3)], dim=0)  # (T+N, 3)
        states = torch.cat([prefilled.hidden, reasoning.states.to(prefilled.hidden.dtype)], dim=1)  # (1, T+N, D)
        is_reasoning = torch.arange(positions.shape[0], device=self.device) >= prefilled.length
        return TokenContext(states, positions[None], is_reasoning[None], torch.ones_like(is_reasoning)[None])

    def prefill_inputs(self, images, instruction: str) -> dict[str, torch.Tensor]:
        """The processor's batch of one observation on the model's device, ready for `prefill`."""
        batch = self.processor(images, instruction)
        return {key: batch[key].to(self.device) for key in decoding.PREFILL_INPUTS if key in batch}

    def embed_observation(self, images, instruction: str) -> torch.Tensor:
        """(1, D) observation embedding of one observation (prefill only, no generated text)."""
        return decoding.prefill(self, self.prefill_inputs(images, instruction)).observation_embedding

    def generate_reasoning(self, images, instruction: str, max_new_tokens: int | None = None) -> DecodedReasoning:
        """Greedy decoding with the KV cache for one observation (images: camera name -> (H, W, 3)
        uint8, or a list), through the same decoder as the robot's runtime (model/decoding.py).
        Call `model.eval()` first: in training mode the routers add noise."""
        max_new_tokens = self.config.max_reasoning_tokens if max_new_tokens is None else max_new_tokens
        prefilled = decoding.prefill(self, self.prefill_inputs(images, instruction), keep_cache=True)
        tokens, reasoning = decoding.decode_greedy(self, prefilled, max_new_tokens)
        context = self.inference_context(prefilled, reasoning) if self.config.action_head.reads_tokens else None
        return DecodedReasoning(self.processor.decode(tokens), tokens, reasoning.embedding,
                                prefilled.observation_embedding, context)

    @torch.no_grad()
    def sample_actions(self, observation_embedding: torch.Tensor, reasoning_embedding: torch.Tensor,
                       state: torch.Tensor | np.ndarray, generator: torch.Generator | None = None,
                       steps: int | None = None, precomputed_conditions: bool = True,
                       inpaint: tuple[np.ndarray, np.ndarray] | None = None,
                       context: TokenContext | None = None) -> torch.Tensor:
        """DDIM sampling of an action chunk: embeddings (B, D), state (B, S) or (S,) physical units
        -> actions (B, H, A) physical units. A seeded `generator` makes the result deterministic.
        `precomputed_conditions=False` calls the whole head per step (the benchmark's baseline).
        inpaint (target (H, A) physical units, weights (H,)): real-time chunking; the rows with
        weight 1 come out equal to target up to the normalisation's round trip (the runtime then
        copies them exactly; policy/realtime_chunking.py).
        context: the token states behind the embeddings (a head that reads tokens needs them)."""
        head = self.config.action_head
        state = torch.as_tensor(state, dtype=observation_embedding.dtype, device=self.device)
        if state.ndim == 1:
            state = state[None]
        if state.shape[-1] != head.state_dim:
            raise ValueError(f"state must have {head.state_dim} values, got {tuple(state.shape)}")
        state = self.action_stats.normalize_state(state)  # (B, S)
        batch = observation_embedding.shape[0]
        if context is not None:
            context = context.to(self.device, observation_embedding.dtype)

        steps = steps or head.inference_steps
        if precomputed_conditions:  # every step's AdaLN modulations in one batched pass
            predict_noise = self.head.denoiser(self.scheduler.inference_timesteps(steps), state,
                                               observation_embedding, reasoning_embedding, context)
        else:
            def predict_noise(sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
                return self.head(sample, timesteps, state, observation_embedding, reasoning_embedding, context)

        guide = None
        if inpaint is not None:
            target = torch.as_tensor(np.asarray(inpaint[0]), dtype=observation_embedding.dtype, device=self.device)
            weights = torch.as_tensor(np.asarray(inpaint[1]), dtype=observation_embedding.dtype, device=self.device)
            if target.shape != (head.horizon, head.action_dim) or weights.shape != (head.horizon,):
                raise ValueError(f"inpainting target must be ({head.horizon}, {head.action_dim}) with "
                                 f"({head.horizon},) weights, got {tuple(target.shape)} and {tuple(weights.shape)}")
            guide = (self.action_stats.normalize_actions(target)[None].expand(batch, -1, -1), weights)
        scaled = self.scheduler.ddim_sample(predict_noise, (batch, head.horizon, head.action_dim), steps,
                                            generator, self.device, observation_embedding.dtype, guide)
        return self.action_stats.unnormalize_actions(scaled)  # (B, H, A)

    def save_pretrained(self, directory: str | Path) -> None:
        from chatvla2.model.checkpoint import save_pretrained

        save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> "ChatVLA2Model":
        from chatvla2.model.checkpoint import load_pretrained

        return load_pretrained(directory, device)

    @classmethod
    def upcycle_from_dense(cls, dense_dir: str | Path, config: ChatVLA2Config | None = None,
                           processor: ChatVLA2Processor | None = None,
                           copy_experts: bool = True) -> "ChatVLA2Model":
        from chatvla2.model.checkpoint import upcycle_from_dense

        return upcycle_from_dense(dense_dir, config, processor, copy_experts)
