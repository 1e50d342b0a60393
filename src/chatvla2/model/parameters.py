"""Parameter counts per component, total and active per token, built on the meta device.

Nothing is allocated: the backbone and head are constructed under `torch.device("meta")`, so the
paper preset (4B parameters) can be checked on any laptop. Active parameters count, per MoE layer,
top_k of num_experts experts (plus the shared expert); everything else is always active.
Memory is weights only, in bf16 (2 bytes per parameter).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from chatvla2.model.config import ChatVLA2Config

BYTES_PER_PARAMETER_BF16 = 2


@dataclass
class ComponentCount:
    name: str
    total: int
    active: int


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def component_counts(config: ChatVLA2Config) -> list[ComponentCount]:
    from chatvla2.model.action_head import ReasoningFollowingHead
    from chatvla2.model.backbone import build_backbone

    with torch.device("meta"):
        vlm = build_backbone(config)
        head = ReasoningFollowingHead(config.action_head, config.text_hidden_size)
    language = vlm.model.language_model
    rows = [ComponentCount("vision tower", count(vlm.model.visual), count(vlm.model.visual))]
    embeddings = count(language.embed_tokens)
    rows.append(ComponentCount("token embeddings", embeddings, embeddings))
    untied_head = 0 if vlm.lm_head.weight is language.embed_tokens.weight else count(vlm.lm_head)
    rows.append(ComponentCount("lm head (untied part)", untied_head, untied_head))
    attention = sum(count(layer.self_attn) + count(layer.input_layernorm) + count(layer.post_attention_layernorm)
                    for layer in language.layers) + count(language.norm)
    rows.append(ComponentCount("decoder attention + norms", attention, attention))
    ffn_total = ffn_active = routers = 0
    for layer in language.layers:
        mlp = layer.mlp
        if not hasattr(mlp, "experts"):
            ffn_total += count(mlp)
            ffn_active += count(mlp)
            continue
        per_expert = count(mlp.experts[0])
        ffn_total += per_expert * len(mlp.experts)
        ffn_active += per_expert * mlp.top_k
        if hasattr(mlp, "shared_expert"):
            ffn_total += count(mlp.shared_expert)
            ffn_active += count(mlp.shared_expert)
        routers += sum(count(getattr(mlp, name)) for name in ("gate", "noise") if hasattr(mlp, name))
    label = "decoder FFN (dense)" if config.moe.kind == "dense" else "decoder FFN experts"
    rows.append(ComponentCount(label, ffn_total, ffn_active))
    rows.append(ComponentCount("routers (gate + noise)", routers, routers))
    rows.append(ComponentCount("action head", count(head), count(head)))
    return rows


def dense_counterpart(config: ChatVLA2Config) -> ChatVLA2Config:
    dense = copy.deepcopy(config)
    dense.moe.kind = "dense"
    dense.moe.expert_intermediate_size = None
    return dense


def format_report(config: ChatVLA2Config) -> str:
    rows = component_counts(config)
    dense_total = sum(row.total for row in component_counts(dense_counterpart(config)))
    total, active = sum(r.total for r in rows), sum(r.active for r in rows)
    moe = config.moe
    width = moe.expert_intermediate_size or config.backbone["text_config"]["intermediate_size"]
    lines = [f"preset {config.preset}: moe {moe.kind}, {moe.num_experts} experts top-{moe.top_k}, expert width {width}; "
             f"head depth {config.action_head.depth} width {config.action_head.width}",
             f"{'component':<28}{'total':>16}{'active':>16}"]
    lines += [f"{row.name:<28}{row.total:>16,}{row.active:>16,}" for row in rows]
    lines.append(f"{'all':<28}{total:>16,}{active:>16,}")
    lines.append(f"dense counterpart (same backbone, dense FFN, same head): {dense_total:,} parameters")
    lines.append(f"total / dense = {total / dense_total:.3f}  (weights in bf16: "
                 f"{total * BYTES_PER_PARAMETER_BF16 / 1e9:.2f} GB vs {dense_total * BYTES_PER_PARAMETER_BF16 / 1e9:.2f} GB)")
    lines.append(f"active / dense = {active / dense_total:.3f}")
    return "\n".join(lines)
