"""The vision-language backbone: transformers' real Qwen2VLForConditionalGeneration whose decoder
layers (`vlm.model.language_model.layers[i].mlp`) are swapped for `MoEBlock`s.

`build_backbone(config)` makes a randomly initialised one; `upcycle_backbone(dense_dir, config)`
loads a dense Qwen2-VL checkpoint directory (transformers layout) and copies each pretrained MLP
into every expert. `routing_context(...)` tells the routers which tokens are image tokens and
which are padding for the duration of one forward pass; `router_loss` and `routing_stats` read
what the routers recorded.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from transformers import Qwen2VLForConditionalGeneration

from chatvla2.model.config import ChatVLA2Config
from chatvla2.model.moe import MoEBlock, RoutingContext, RoutingStats, upcycle_experts


def decoder_layers(vlm: Qwen2VLForConditionalGeneration) -> nn.ModuleList:
    return vlm.model.language_model.layers


def moe_blocks(vlm: Qwen2VLForConditionalGeneration) -> list[MoEBlock]:
    return [layer.mlp for layer in decoder_layers(vlm) if isinstance(layer.mlp, MoEBlock)]


def swap_in_moe(vlm: Qwen2VLForConditionalGeneration, config: ChatVLA2Config) -> None:
    """Replace every decoder layer's MLP by an MoE block (no-op for moe.kind == 'dense')."""
    if config.moe.kind == "dense":
        return
    text_config = vlm.config.text_config
    for layer in decoder_layers(vlm):
        block = MoEBlock(text_config, config.moe)
        reference = next(layer.mlp.parameters())
        layer.mlp = block.to(device=reference.device, dtype=reference.dtype)


def build_backbone(config: ChatVLA2Config) -> Qwen2VLForConditionalGeneration:
    vlm = Qwen2VLForConditionalGeneration(config.qwen2vl_config())
    swap_in_moe(vlm, config)
    return vlm


def upcycle_backbone(dense_dir: str | Path, config: ChatVLA2Config,
                     copy_experts: bool = True) -> Qwen2VLForConditionalGeneration:
    """Load a dense Qwen2-VL directory and turn it into the MoE backbone (sparse upcycling).

    `config.backbone` is replaced by the dense checkpoint's own config so the sizes always match.
    `copy_experts=False` keeps the experts (and router) at their random initialisation while
    everything else is pretrained: the "no upcycling" ablation.
    """
    dense_dir = Path(dense_dir)
    for name in ("config.json",):
        if not (dense_dir / name).is_file():
            raise FileNotFoundError(f"dense Qwen2-VL checkpoint '{dense_dir}' is missing {name}")
    if not any(dense_dir.glob("*.safetensors")) and not any(dense_dir.glob("*.bin")):
        raise FileNotFoundError(f"dense Qwen2-VL checkpoint '{dense_dir}' has no model.safetensors")
    vlm = Qwen2VLForConditionalGeneration.from_pretrained(dense_dir, dtype=torch.float32)
    config.backbone = vlm.config.to_dict()
    dense_mlps = [layer.mlp for layer in decoder_layers(vlm)]
    swap_in_moe(vlm, config)
    if copy_experts:
        for block, dense_mlp in zip(moe_blocks(vlm), dense_mlps):
            upcycle_experts(block, dense_mlp)
    return vlm


@contextmanager
def routing_context(vlm: Qwen2VLForConditionalGeneration, mm_token_type_ids: torch.Tensor,
                    attention_mask: torch.Tensor | None = None):
    """Route the next forward pass(es) knowing each token's modality (B, T) and validity (B, T)."""
    valid = attention_mask.bool() if attention_mask is not None else torch.ones_like(mm_token_type_ids, dtype=torch.bool)
    context = RoutingContext(modality=mm_token_type_ids.long(), valid=valid)
    blocks = moe_blocks(vlm)
    for block in blocks:
        block.context = context
    try:
        yield
    finally:
        for block in blocks:
            block.context = None


def router_loss(vlm: Qwen2VLForConditionalGeneration) -> torch.Tensor:
    """Mean load-balancing loss of the last forward pass over the MoE layers (0 for dense)."""
    losses = [block.last_aux_loss for block in moe_blocks(vlm) if block.last_aux_loss is not None]
    if not losses:
        return torch.zeros((), device=vlm.lm_head.weight.device)
    return torch.stack(losses).mean()


def routing_stats(vlm: Qwen2VLForConditionalGeneration) -> list[RoutingStats]:
    """Per-layer routing statistics of the last forward pass (empty for the dense model)."""
    return [block.last_stats for block in moe_blocks(vlm) if block.last_stats is not None]
