"""The one greedy reasoning decoder: prefill an observation's prompt, then decode over the KV cache.

Every caller that turns an observation into reasoning text goes through here: the policy runtime
that drives the robot, evaluation and replay (through that runtime), stage 2's own-reasoning cache
and the probes (`ChatVLA2Model.generate_reasoning`). So a decoding bug cannot hide in one path.

    prefilled = prefill(model, model.processor(images, instruction), keep_cache=True)
    token_ids, reasoning = decode_greedy(model, prefilled, max_new_tokens=32)  # reasoning: ReasoningStates

M-RoPE positions are computed and passed explicitly (never read from `vlm.model.rope_deltas`), and
each backbone call holds `lock` for one step only (one prefill, or one decoded token): the async
runtime decodes on a background thread while the per-frame path prefills the next frame.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from chatvla2.model.backbone import routing_context

PREFILL_INPUTS = ("input_ids", "mm_token_type_ids", "pixel_values", "image_grid_thw")  # a batch of one: no padding


@dataclass
class Prefilled:
    """One prefilled observation. observation_embedding (1, D); with a cache, the state to decode from."""

    observation_embedding: torch.Tensor
    hidden: torch.Tensor | None = None  # (1, T, D) the prompt tokens' last hidden states (token attention)
    position_ids: torch.Tensor | None = None  # (3, 1, T) their M-RoPE positions
    last_hidden: torch.Tensor | None = None  # (1, D) hidden state of the last prompt token
    cache: object | None = None  # transformers DynamicCache holding the prompt
    rope_delta: torch.Tensor | None = None  # (1, 1) M-RoPE offset of text positions after the prompt
    length: int = 0  # prompt tokens


@dataclass
class ReasoningStates:
    """What the action head takes from a decoded reasoning: embedding (1, D), the mean hidden state
    of the generated tokens (zeros when none), and states (1, N, D), each token's hidden state."""

    embedding: torch.Tensor
    states: torch.Tensor


@torch.inference_mode()
def prefill(model, inputs: dict[str, torch.Tensor], keep_cache: bool = False,
            lock: contextlib.AbstractContextManager | None = None) -> Prefilled:
    """inputs: the processor's batch of one observation, already on the model's device."""
    from transformers import DynamicCache

    vlm = model.vlm
    inputs = {key: inputs[key] for key in PREFILL_INPUTS if key in inputs}
    position_ids, rope_delta = vlm.model.get_rope_index(
        inputs["input_ids"], inputs["mm_token_type_ids"], image_grid_thw=inputs.get("image_grid_thw"))
    cache = DynamicCache(config=vlm.config.text_config) if keep_cache else None
    with lock or contextlib.nullcontext(), routing_context(vlm, inputs["mm_token_type_ids"]):
        hidden = vlm.model(**inputs, position_ids=position_ids, past_key_values=cache,
                           use_cache=keep_cache).last_hidden_state  # (1, T, D)
    return Prefilled(observation_embedding=hidden.mean(dim=1), hidden=hidden, position_ids=position_ids,
                     last_hidden=hidden[:, -1], cache=cache, rope_delta=rope_delta, length=hidden.shape[1])


@torch.inference_mode()
def decode_greedy(model, prefilled: Prefilled, max_new_tokens: int,
                  lock: contextlib.AbstractContextManager | None = None,
                  stop_at_end: bool = True) -> tuple[list[int], ReasoningStates]:
    """Greedy tokens after the prompt -> (token ids, their hidden states and mean).
    `stop_at_end=False` always decodes max_new_tokens (fixed-cost benchmarks).
    The prompt's cache grows with the decoded tokens: decode from one prefill once."""
    if prefilled.cache is None:
        raise ValueError("decoding needs a prefill made with keep_cache=True")
    vlm, device = model.vlm, model.device
    end_id = model.processor.im_end_id
    logits = vlm.lm_head(prefilled.last_hidden)  # (1, V)
    token = torch.empty((1, 1), dtype=torch.long, device=device)
    states: list[torch.Tensor] = []  # (1, D) each
    tokens: list[int] = []
    for index in range(max_new_tokens):
        token.copy_(logits.argmax(dim=-1, keepdim=True))
        if stop_at_end and int(token) == end_id:
            break
        tokens.append(int(token))
        position = (prefilled.length + index + prefilled.rope_delta).view(1, 1, 1).expand(3, 1, 1)  # (3, 1, 1)
        with lock or contextlib.nullcontext():
            step = vlm.model(input_ids=token, position_ids=position, past_key_values=prefilled.cache,
                             use_cache=True).last_hidden_state[:, -1]  # (1, D)
        states.append(step)
        logits = vlm.lm_head(step)
    if not states:
        empty = prefilled.observation_embedding
        return tokens, ReasoningStates(torch.zeros_like(empty), empty.new_zeros((1, 0, empty.shape[-1])))
    stacked = torch.stack(states, dim=1)  # (1, N, D)
    return tokens, ReasoningStates(stacked.mean(dim=1), stacked)
