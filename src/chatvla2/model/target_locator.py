"""The target locator: where the object the reasoning names lies, read from the VLM's token states.

A head conditioned on two means (prompt tokens, reasoning tokens) cannot tell where a card lies:
the mean blurs which image token shows which digit (CHANGELOG.md, v7 and v8). The
locator does that one job, and the head is told its answer:

    clause   = attention of a learned query over the reasoning tokens     (which card is named)
    pointer  = softmax over the prompt tokens of  query(clause) . key(token)   (where it is)
    target   = readout(sum of the pointed-at tokens)                     (B, 2), table coordinates

With `query="digit-and-place"` the pointer's query is no longer the clause itself but the sum of
two learned embeddings, of the digit and of the place word the clause names (two classifiers read
them from the clause; training feeds the true ones). The pointer then sees nothing else of the
reasoning: with the clause as query it learnt that a card named third that is the board's answer
lies in the third slot, true of every training scene and false in card-swap (CHANGELOG.md,
v9); with only "7, third" it must find the 7 or count the row.

Tokens enter through a `ContextEncoder` (state + M-RoPE position + kind), so the pointed-at token
carries where in which image it lies. Training supervises both outputs from the simulator
(`locator_loss`): the pointer with cross-entropy on the image token the named card's centre falls
in, the target with the squared error of the card's normalised table position, the digit and place
classifiers (if any) with cross-entropy. The head adds a
projection of the (detached) target to its reasoning condition (action_head.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from chatvla2.model.action_head import ContextEncoder, TokenContext, projection


NAME_CLASSES = {"digit-and-place": (10, 4)}  # digits 0-9; first, second, third, fourth (scenes.ORDINALS)


@dataclass
class Located:
    target: torch.Tensor  # (B, 2) normalised table position of the named object
    logits: torch.Tensor  # (B, T) pointer logits over the context's tokens (-inf where not a prompt token)
    name_logits: tuple[torch.Tensor, ...] = ()  # per named field (B, classes): digit, place


@dataclass
class LocatorTarget:
    """Ground truth for `locator_loss`: position (B, 2) normalised; token (B,) long, the index in
    the context of the image token the object's centre falls in (-1: none, no pointer loss); names
    (B, fields) long, the class of each named field (digit, place; -1: unknown, no loss), or None."""

    position: torch.Tensor
    token: torch.Tensor
    names: torch.Tensor | None = None

    def rows(self, rows: torch.Tensor) -> "LocatorTarget":
        return LocatorTarget(self.position[rows], self.token[rows], None if self.names is None else self.names[rows])


class TargetLocator(nn.Module):
    def __init__(self, embedding_dim: int, width: int, num_heads: int, query: str = "clause") -> None:
        super().__init__()
        if query != "clause" and query not in NAME_CLASSES:
            raise ValueError(f"locator query '{query}' is not 'clause' or one of {sorted(NAME_CLASSES)}")
        classes = NAME_CLASSES.get(query, ())
        self.name_heads = nn.ModuleList([nn.Linear(width, count) for count in classes])
        self.name_embeddings = nn.ModuleList([nn.Embedding(count, width) for count in classes])
        self.encoder = ContextEncoder(embedding_dim, width)
        self.clause_query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.clause_attention = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.query = projection(width, width)
        self.key = nn.Linear(width, width)
        self.readout = nn.Sequential(nn.LayerNorm(width, eps=1e-6), nn.Linear(width, width), nn.SiLU(),
                                     nn.Linear(width, 2))

    def forward(self, context: TokenContext, names: torch.Tensor | None = None) -> Located:
        """names (B, fields): the named fields' classes to build the query from (training feeds the
        truth); None: the classifiers' most likely ones. Ignored by a "clause" query."""
        memory = self.encoder(context)  # (B, T, W)
        batch, width = memory.shape[0], memory.shape[-1]
        reasoning = context.valid & context.reasoning
        # a row without reasoning tokens (none decoded yet) attends to its prompt instead of to nothing
        clause_keys = torch.where(reasoning.any(dim=1, keepdim=True), reasoning, context.valid)
        clause = self.clause_attention(self.clause_query.expand(batch, -1, -1), memory, memory,
                                       key_padding_mask=~clause_keys, need_weights=False)[0][:, 0]  # (B, W)
        name_logits = tuple(head(clause) for head in self.name_heads)
        query = clause
        if name_logits:
            if names is None:
                names = torch.stack([logits.argmax(dim=-1) for logits in name_logits], dim=-1)
            names = names.to(clause.device).clamp(min=0)  # an unknown field (-1) reads as class 0
            query = sum(embedding(names[:, field]) for field, embedding in enumerate(self.name_embeddings))
        logits = torch.einsum("bw,btw->bt", self.query(query), self.key(memory)) / math.sqrt(width)
        logits = logits.float().masked_fill(~(context.valid & ~context.reasoning), float("-inf"))
        weights = torch.softmax(logits, dim=-1).to(memory.dtype)
        pointed = torch.einsum("bt,btw->bw", weights, memory)
        return Located(self.readout(pointed), logits, name_logits)


def locator_loss(located: Located, truth: LocatorTarget) -> torch.Tensor:
    """Squared error of the target plus cross-entropy of the pointer (rows whose token is -1 skip it)
    and of each named field's classifier (rows whose class is -1 skip it)."""
    loss = F.mse_loss(located.target.float(), truth.position.to(located.target.device).float())
    token = truth.token.to(located.logits.device)
    if bool((token >= 0).any()):
        loss = loss + F.cross_entropy(located.logits[token >= 0], token[token >= 0])
    if located.name_logits:
        if truth.names is None or truth.names.shape[-1] != len(located.name_logits):
            raise ValueError(f"a locator that reads {len(located.name_logits)} named fields needs their classes "
                             f"(LocatorTarget.names (B, {len(located.name_logits)}))")
        names = truth.names.to(located.logits.device)
        for field, logits in enumerate(located.name_logits):
            if bool((names[:, field] >= 0).any()):
                loss = loss + F.cross_entropy(logits.float(), names[:, field], ignore_index=-1)
    return loss


def pointer_accuracy(located: Located, truth: LocatorTarget) -> float:
    """Share of rows whose most likely token is the true one (rows with a true token only)."""
    token = truth.token.to(located.logits.device)
    has_token = token >= 0
    if not bool(has_token.any()):
        return float("nan")
    return float((located.logits[has_token].argmax(dim=-1) == token[has_token]).float().mean())


def name_accuracy(located: Located, truth: LocatorTarget) -> float:
    """Share of rows whose named fields are all read right (rows with every class known only)."""
    if not located.name_logits or truth.names is None:
        return float("nan")
    names = truth.names.to(located.logits.device)
    known = (names >= 0).all(dim=-1)
    if not bool(known.any()):
        return float("nan")
    read = torch.stack([logits.argmax(dim=-1) for logits in located.name_logits], dim=-1)
    return float((read[known] == names[known]).all(dim=-1).float().mean())
