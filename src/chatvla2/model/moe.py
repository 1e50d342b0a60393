"""Mixture-of-experts FFN that replaces each Qwen2-VL decoder layer's MLP (same in/out shape).

`MoEBlock(hidden_states (B, T, D)) -> (B, T, D)`, following transformers' Qwen2-MoE sparse block:
a router (`gate`, a Linear), a ModuleList of experts with the dense MLP's shape (transformers'
own `Qwen2MLP`), top-k over softmaxed router logits, renormalised top-k weights. Dynamic routing
adds Shazeer et al. (2017) noisy gating in training only: logits + N(0, 1) * softplus(x W_noise).

After each forward pass the block keeps `last_aux_loss` (the load-balancing loss, a pure function
below) and `last_stats` (`RoutingStats`: tokens per expert and routing entropy). The decoder layer
calls `mlp(x)` with nothing else, so what the router must know about the tokens (which are image
tokens for static routing, which are padding) comes from `context`, a `RoutingContext` the model
sets around each forward pass (`chatvla2.model.backbone.routing_context`).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2MLP

from chatvla2.model.config import MoEConfig


@dataclass
class RoutingContext:
    """Per-token facts the router needs. modality: (B, T) 0 text, 1 image; valid: (B, T) bool."""

    modality: torch.Tensor
    valid: torch.Tensor


@dataclass
class RoutingStats:
    """Routing of one layer in the last forward pass (valid tokens only).

    tokens_per_expert: (E,) how many token-slots each expert received (k per token).
    load_entropy_bits: entropy of the share of token-slots per expert (max log2 E: balanced).
    token_entropy_bits: mean over tokens of the entropy of the router's softmax.
    """

    tokens_per_expert: torch.Tensor
    load_entropy_bits: float
    token_entropy_bits: float


def load_balancing_loss(router_probs: torch.Tensor, selected: torch.Tensor, num_experts: int) -> torch.Tensor:
    """Switch/Qwen2-MoE auxiliary loss: E * sum_e f_e * P_e.

    router_probs: (N, E) softmax of the router over all experts; selected: (N, k) chosen experts.
    f_e is the share of the N*k token-slots sent to expert e and P_e the mean router probability.
    It equals 1 when routing is uniform and grows to E when every token goes to one expert.
    """
    if router_probs.shape[0] == 0:
        return router_probs.sum() * 0.0
    slot_counts = F.one_hot(selected, num_experts).sum(dim=(0, 1)).to(router_probs.dtype)  # (E,)
    share = slot_counts / selected.numel()  # (E,)
    mean_probs = router_probs.mean(dim=0)  # (E,)
    return num_experts * torch.sum(share * mean_probs)


def entropy_bits(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in bits over the last axis."""
    return -(probs * torch.log2(probs.clamp_min(1e-12))).sum(dim=-1)


def expert_config(text_config, intermediate_size: int | None):
    """A copy of the text config whose FFN width is the expert's."""
    config = copy.copy(text_config)
    if intermediate_size is not None:
        config.intermediate_size = intermediate_size
    return config


class MoEBlock(nn.Module):
    def __init__(self, text_config, moe: MoEConfig) -> None:
        super().__init__()
        self.moe = moe
        self.num_experts, self.top_k = moe.num_experts, (1 if moe.kind == "static" else moe.top_k)
        hidden = text_config.hidden_size
        one_expert = expert_config(text_config, moe.expert_intermediate_size)
        self.experts = nn.ModuleList([Qwen2MLP(one_expert) for _ in range(self.num_experts)])
        if moe.kind != "static":
            self.gate = nn.Linear(hidden, self.num_experts, bias=False)
            nn.init.normal_(self.gate.weight, std=moe.router_init_std)
            if moe.noisy_gating:
                # Zero-initialised as in Shazeer et al.: the noise starts at softplus(0) and is learned.
                self.noise = nn.Linear(hidden, self.num_experts, bias=False)
                nn.init.zeros_(self.noise.weight)
        if moe.kind == "shared":
            self.shared_expert = Qwen2MLP(one_expert)
        self.context: RoutingContext | None = None
        self.last_aux_loss: torch.Tensor | None = None
        self.last_stats: RoutingStats | None = None

    def route(self, tokens: torch.Tensor, modality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (N, D) -> (router_probs (N, E), selected (N, k), weights (N, k))."""
        if self.moe.kind == "static":
            selected = (modality.clamp(0, 1) % self.num_experts).long()[:, None]  # (N, 1)
            probs = F.one_hot(selected[:, 0], self.num_experts).to(tokens.dtype)  # (N, E)
            return probs, selected, torch.ones_like(selected, dtype=tokens.dtype)
        logits = self.gate(tokens)  # (N, E)
        if self.training and self.moe.noisy_gating:
            logits = logits + torch.randn_like(logits) * F.softplus(self.noise(tokens))
        probs = logits.softmax(dim=-1, dtype=torch.float32)  # (N, E)
        top_probs, selected = probs.topk(self.top_k, dim=-1)  # (N, k)
        weights = top_probs / top_probs.sum(dim=-1, keepdim=True)
        return probs, selected, weights.to(tokens.dtype)

    def current_context(self, batch: int, length: int, device: torch.device) -> RoutingContext:
        if self.context is not None and tuple(self.context.valid.shape) == (batch, length):
            return self.context
        return RoutingContext(modality=torch.zeros(batch, length, dtype=torch.long, device=device),
                              valid=torch.ones(batch, length, dtype=torch.bool, device=device))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = hidden_states.shape
        context = self.current_context(batch, length, hidden_states.device)
        tokens = hidden_states.reshape(-1, hidden)  # (N, D)
        probs, selected, weights = self.route(tokens, context.modality.reshape(-1).to(tokens.device))
        mixed = self.dispatch(tokens, selected, weights)  # (N, D)
        if self.moe.kind == "shared":
            # Averaged, not summed, so that upcycled experts still reproduce the dense MLP.
            mixed = 0.5 * (mixed + self.shared_expert(tokens))
        self.record(probs, selected, context.valid.reshape(-1).to(tokens.device))
        return mixed.reshape(batch, length, hidden)

    def dispatch(self, tokens: torch.Tensor, selected: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Each expert on its tokens, outputs weighted and summed back per token: (N, D).

        The N*k token-slots are sorted by expert once, so every expert reads one contiguous slice
        and the results return in one `index_add_`: a single host sync (the per-expert counts)
        instead of one `where` per expert. Same arithmetic as a per-expert loop, bit for bit."""
        flat = selected.reshape(-1)  # (N*k,)
        order = flat.argsort(stable=True)  # token-slots grouped by expert
        counts = torch.bincount(flat, minlength=self.num_experts).tolist()
        token_of = order // selected.shape[1]  # (N*k,) the token of each sorted slot
        outputs = [expert(chunk) for expert, chunk, count in
                   zip(self.experts, tokens[token_of].split(counts), counts) if count]
        if not outputs:
            return torch.zeros_like(tokens)
        weighted = torch.cat(outputs) * weights.reshape(-1)[order, None]  # (N*k, D)
        return torch.zeros_like(tokens).index_add_(0, token_of, weighted.to(tokens.dtype))

    def record(self, probs: torch.Tensor, selected: torch.Tensor, valid: torch.Tensor) -> None:
        probs, selected = probs[valid], selected[valid]
        if torch.is_inference_mode_enabled():  # serving: no loss to train, only the statistics
            self.last_aux_loss = None
        elif self.moe.kind == "static":
            self.last_aux_loss = probs.sum() * 0.0
        else:
            self.last_aux_loss = load_balancing_loss(probs, selected, self.num_experts)
        with torch.no_grad():
            counts = torch.bincount(selected.reshape(-1), minlength=self.num_experts)  # (E,)
            share = counts.float() / max(int(counts.sum()), 1)
            token_entropy = entropy_bits(probs.float()).mean() if probs.shape[0] else torch.zeros(())
            self.last_stats = RoutingStats(tokens_per_expert=counts.cpu(),
                                           load_entropy_bits=float(entropy_bits(share)),
                                           token_entropy_bits=float(token_entropy))

    @property
    def max_entropy_bits(self) -> float:
        return math.log2(self.num_experts)


def upcycle_experts(block: MoEBlock, dense_mlp: nn.Module) -> None:
    """Sparse upcycling: every expert (and the shared expert) starts as the pretrained MLP.

    When the experts are as wide as the dense MLP each is an exact copy, so any routing reproduces
    the dense function (renormalised weights sum to 1). Narrower experts each copy an evenly spaced
    window of the pretrained neurons, with down_proj scaled by dense/expert width so a window is an
    unbiased estimate of the full FFN: a start that is close to, but not equal to, the dense model.
    """
    dense_width = dense_mlp.gate_proj.out_features
    targets = list(block.experts) + ([block.shared_expert] if hasattr(block, "shared_expert") else [])
    with torch.no_grad():
        for index, expert in enumerate(targets):
            width = expert.gate_proj.out_features
            if width > dense_width:
                raise ValueError(f"expert width {width} exceeds the dense MLP width {dense_width}")
            start = 0 if len(targets) == 1 else round(index * (dense_width - width) / (len(targets) - 1))
            window = slice(start, start + width)
            expert.gate_proj.weight.copy_(dense_mlp.gate_proj.weight[window])
            expert.up_proj.weight.copy_(dense_mlp.up_proj.weight[window])
            expert.down_proj.weight.copy_(dense_mlp.down_proj.weight[:, window] * (dense_width / width))
