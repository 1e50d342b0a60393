"""The target locator: where the object the reasoning names lies, read from the VLM's token states.

A head conditioned on two means (prompt tokens, reasoning tokens) cannot tell where a card lies:
the mean blurs which image token shows which digit (docs/training.md, Tiny v7 and v8). The
locator does that one job, and the head is told its answer:

    clause   = attention of a learned query over the reasoning tokens     (which card is named)
    pointer  = softmax over the prompt tokens of  query(clause) . key(token)   (where it is)
    target   = readout(sum of the pointed-at tokens)                     (B, 2), table coordinates

Tokens enter through a `ContextEncoder` (state + M-RoPE position + kind), so the pointed-at token
carries where in which image it lies. Training supervises both outputs from the simulator
(`locator_loss`): the pointer with cross-entropy on the image token the named card's centre falls
in, the target with the squared error of the card's normalised table position. The head adds a
projection of the (detached) target to its reasoning condition (action_head.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from chatvla2.model.action_head import ContextEncoder, TokenContext, projection


@dataclass
class Located:
    target: torch.Tensor  # (B, 2) normalised table position of the named object
    logits: torch.Tensor  # (B, T) pointer logits over the context's tokens (-inf where not a prompt token)


@dataclass
class LocatorTarget:
    """Ground truth for `locator_loss`: position (B, 2) normalised; token (B,) long, the index in
    the context of the image token the object's centre falls in (-1: none, no pointer loss)."""

    position: torch.Tensor
    token: torch.Tensor


class TargetLocator(nn.Module):
    def __init__(self, embedding_dim: int, width: int, num_heads: int) -> None:
        super().__init__()
        self.encoder = ContextEncoder(embedding_dim, width)
        self.clause_query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.clause_attention = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.query = projection(width, width)
        self.key = nn.Linear(width, width)
        self.readout = nn.Sequential(nn.LayerNorm(width, eps=1e-6), nn.Linear(width, width), nn.SiLU(),
                                     nn.Linear(width, 2))

    def forward(self, context: TokenContext) -> Located:
        memory = self.encoder(context)  # (B, T, W)
        batch, width = memory.shape[0], memory.shape[-1]
        reasoning = context.valid & context.reasoning
        # a row without reasoning tokens (none decoded yet) attends to its prompt instead of to nothing
        clause_keys = torch.where(reasoning.any(dim=1, keepdim=True), reasoning, context.valid)
        clause = self.clause_attention(self.clause_query.expand(batch, -1, -1), memory, memory,
                                       key_padding_mask=~clause_keys, need_weights=False)[0][:, 0]  # (B, W)
        logits = torch.einsum("bw,btw->bt", self.query(clause), self.key(memory)) / math.sqrt(width)
        logits = logits.float().masked_fill(~(context.valid & ~context.reasoning), float("-inf"))
        weights = torch.softmax(logits, dim=-1).to(memory.dtype)
        pointed = torch.einsum("bt,btw->bw", weights, memory)
        return Located(self.readout(pointed), logits)


def locator_loss(located: Located, truth: LocatorTarget) -> torch.Tensor:
    """Squared error of the target plus cross-entropy of the pointer (rows whose token is -1 skip it)."""
    position = F.mse_loss(located.target.float(), truth.position.to(located.target.device).float())
    token = truth.token.to(located.logits.device)
    has_token = token >= 0
    if not bool(has_token.any()):
        return position
    pointer = F.cross_entropy(located.logits[has_token], token[has_token])
    return position + pointer


def pointer_accuracy(located: Located, truth: LocatorTarget) -> float:
    """Share of rows whose most likely token is the true one (rows with a true token only)."""
    token = truth.token.to(located.logits.device)
    has_token = token >= 0
    if not bool(has_token.any()):
        return float("nan")
    return float((located.logits[has_token].argmax(dim=-1) == token[has_token]).float().mean())
