"""The reasoning-following diffusion action head: a ScaleDP-style DiT with AdaLN-zero blocks.

`ReasoningFollowingHead(noisy_actions (B, H, A), timesteps (B,), state (B, S),
observation_embedding (B, D), reasoning_embedding (B, D)) -> predicted noise (B, H, A)`.

Tokens: one state token followed by the H action tokens, each with a learned position embedding.
Every block modulates its LayerNorms with AdaLN, `(1 + gamma(c)) * norm(x) + beta(c)`, and gates
its residual branches with alpha(c), all zero-initialised (AdaLN-zero: each block starts as the
identity). The condition c of block i is
    obs  = t_emb + MLP(observation_embedding) + Linear(state)     for i <  depth // 2
    reas = t_emb + MLP(reasoning_embedding)                      for i >= depth // 2
where the embeddings are pooled VLM hidden states (prompt tokens / reasoning tokens). With
`reasoning_following=False` every block (and the final layer) uses obs, the paper's ablation.
`condition_names()` says which condition each block uses.

Token attention (`token_attention: true`): a mean over ~110 prompt tokens or ~30 reasoning tokens
keeps what the tokens share and blurs what tells them apart (which card is where, which place the
reasoning named). With it, every block also cross-attends, after its self-attention, to the VLM's
token states (`TokenContext`): observation blocks to the prompt tokens, reasoning blocks to the
prompt and the reasoning tokens. Each state enters through a linear map plus an embedding of its
M-RoPE position (temporal, height, width): the VLM's hidden states carry positions only through
rotary attention, and a head that must find a card in the image needs them. The cross-attention's
output projection starts at zero, so a head given token attention computes what it computed before
(`add_token_attention`: stage 2 can start from a stage-1 head without it). `pooled_embeddings:
false` leaves the means out of the AdaLN conditions (timestep and state only; the projections stay,
unused), so such a head reads the VLM through its tokens alone.

Target locator (`target_locator: true`, target_locator.py): a pointer over the prompt tokens finds
the card the reasoning names and reads its table position (B, 2); `target_proj` of it (starting at
zero) is added to the condition of the last half (`conditions(..., target)`). Training passes the
locator's output detached (`target=`), so the locator learns from its own supervised loss alone.

Sampling calls the head once per DDIM step with the same state and embeddings; only the timestep
changes. `denoiser(timesteps, ...)` therefore computes every condition and every block's AdaLN
modulation for all steps in one batched pass up front, and returns a `predict_noise(sample, t)`
that runs only the token path: the same numbers as calling the head per step, less work per step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from chatvla2.model.config import ActionHeadConfig


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (DiT): timesteps (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=timesteps.device, dtype=torch.float32) / half)
    angles = timesteps.float()[:, None] * freqs[None]  # (B, half)
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


def projection(in_dim: int, out_dim: int) -> nn.Sequential:
    """The 'small MLP' that maps a pooled embedding into the head's width."""
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))


POSITION_FREQUENCIES = 16  # sinusoid pairs per M-RoPE position component


@dataclass
class TokenContext:
    """The VLM token states an attending head reads, one row per example: states (B, T, D) last
    hidden states; positions (B, T, 3) their M-RoPE position ids (temporal, height, width);
    reasoning (B, T) bool, True for reasoning tokens, False for prompt tokens; valid (B, T) bool,
    False for padding."""

    states: torch.Tensor
    positions: torch.Tensor
    reasoning: torch.Tensor
    valid: torch.Tensor

    def __post_init__(self) -> None:
        batch, length = self.states.shape[:2]
        if (self.positions.shape != (batch, length, 3) or self.reasoning.shape != (batch, length)
                or self.valid.shape != (batch, length)):
            raise ValueError(f"token context of states {tuple(self.states.shape)} needs positions (B, T, 3) and "
                             f"(B, T) masks, got {tuple(self.positions.shape)}, {tuple(self.reasoning.shape)}, "
                             f"{tuple(self.valid.shape)}")
        if not bool(((self.valid & ~self.reasoning).any(dim=1)).all()):
            raise ValueError("every example of a token context needs at least one prompt token")

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "TokenContext":
        return TokenContext(self.states.to(device, dtype), self.positions.to(device), self.reasoning.to(device),
                            self.valid.to(device))


class ContextEncoder(nn.Module):
    """TokenContext -> (B, T, W): each state mapped into the head's width, plus embeddings of its
    M-RoPE position and of its kind (prompt or reasoning token)."""

    def __init__(self, embedding_dim: int, width: int) -> None:
        super().__init__()
        self.states = nn.Linear(embedding_dim, width)
        self.position = nn.Linear(3 * 2 * POSITION_FREQUENCIES, width)
        self.kind = nn.Embedding(2, width)
        self.norm = nn.LayerNorm(width, eps=1e-6)

    def forward(self, context: TokenContext) -> torch.Tensor:
        steps = torch.arange(POSITION_FREQUENCIES, device=context.positions.device, dtype=torch.float32)
        frequencies = torch.exp(-math.log(1000.0) * steps / POSITION_FREQUENCIES)  # float32 also in a bf16 head
        angles = context.positions.float()[..., None] * frequencies  # (B, T, 3, F)
        features = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).flatten(2)  # (B, T, 6F)
        dtype = self.states.weight.dtype
        encoded = (self.states(context.states.to(dtype)) + self.position(features.to(dtype))
                   + self.kind(context.reasoning.long()))
        return self.norm(encoded)


class CrossAttention(nn.Module):
    """x (B, L, W) attends to memory (B, T, W) except where `ignore` (B, T) is True. The output
    projection starts at zero, so the block starts as it was without it; its gradient is the
    attended values themselves, a full W x W read-out (a per-channel gate on a random attention
    barely moved: 0.001 after 2,000 steps of v7's first run, its loss equal to v6's)."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, ignore: torch.Tensor) -> torch.Tensor:
        return x + self.attn(self.norm(x), memory, memory, key_padding_mask=ignore, need_weights=False)[0]


class DiTBlock(nn.Module):
    def __init__(self, width: int, num_heads: int, mlp_ratio: float, token_attention: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.adaLN_modulation[1].weight)
        nn.init.zeros_(self.adaLN_modulation[1].bias)
        self.cross_attention = CrossAttention(width, num_heads) if token_attention else None

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None,
                modulation: torch.Tensor | None = None, memory: torch.Tensor | None = None,
                ignore: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, L, W), condition (B, W) or its precomputed `adaLN_modulation` (B, 6W) -> (B, L, W);
        with token attention also the encoded context `memory` (B, T, W) and `ignore` (B, T)."""
        if modulation is None:
            modulation = self.adaLN_modulation(condition)
        shift1, scale1, gate1, shift2, scale2, gate2 = modulation.chunk(6, dim=-1)
        h = modulate(self.norm1(x), shift1, scale1)
        x = x + gate1[:, None] * self.attn(h, h, h, need_weights=False)[0]
        if self.cross_attention is not None:
            x = self.cross_attention(x, memory, ignore)
        return x + gate2[:, None] * self.mlp(modulate(self.norm2(x), shift2, scale2))


class FinalLayer(nn.Module):
    def __init__(self, width: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.linear = nn.Linear(width, out_dim)
        for layer in (self.adaLN_modulation[1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None,
                modulation: torch.Tensor | None = None) -> torch.Tensor:
        if modulation is None:
            modulation = self.adaLN_modulation(condition)
        shift, scale = modulation.chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


class ReasoningFollowingHead(nn.Module):
    def __init__(self, config: ActionHeadConfig, embedding_dim: int) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.action_in = nn.Linear(config.action_dim, width)
        self.state_in = nn.Linear(config.state_dim, width)
        self.position = nn.Parameter(torch.randn(1, config.horizon + 1, width) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.observation_proj = projection(embedding_dim, width)
        self.state_cond = nn.Linear(config.state_dim, width)
        self.reasoning_proj = projection(embedding_dim, width)
        self.blocks = nn.ModuleList([DiTBlock(width, config.num_heads, config.mlp_ratio, config.token_attention)
                                     for _ in range(config.depth)])
        self.final = FinalLayer(width, config.action_dim)
        self.context_encoder = ContextEncoder(embedding_dim, width) if config.token_attention else None
        self.locator, self.target_proj = None, None
        if config.target_locator:
            from chatvla2.model.target_locator import TargetLocator  # it builds on this module's parts

            self.locator = TargetLocator(embedding_dim, width, config.num_heads, config.locator_query)
            self.target_proj = projection(2, width)
            nn.init.zeros_(self.target_proj[-1].weight)  # a head given a locator starts as it was
            nn.init.zeros_(self.target_proj[-1].bias)

    def condition_names(self) -> list[str]:
        """Which embedding conditions each block: 'observation' or 'reasoning'."""
        split = self.config.depth // 2 if self.config.reasoning_following else self.config.depth
        return ["observation" if index < split else "reasoning" for index in range(self.config.depth)]

    def conditions(self, timesteps: torch.Tensor, state: torch.Tensor, observation_embedding: torch.Tensor,
                   reasoning_embedding: torch.Tensor | None, target: torch.Tensor | None = None
                   ) -> dict[str, torch.Tensor]:
        """Condition name -> (N, W). timesteps (N,) with N a multiple of the batch B: row n pairs
        timestep n with example n % B (several steps' conditions in one call). target (B, 2): the
        locator's table position of the named card (a head with a target locator), added to the last
        half's condition."""
        sinusoid = timestep_embedding(timesteps, self.config.width)  # (N, W) float32
        t_emb = self.time_mlp(sinusoid.to(self.time_mlp[0].weight.dtype))  # a bf16 head runs in bf16
        pooled = self.config.pooled_embeddings
        fixed = {"observation": self.state_cond(state)}  # (B, W)
        if pooled:
            fixed["observation"] = fixed["observation"] + self.observation_proj(observation_embedding)
        if self.config.reasoning_following:
            if reasoning_embedding is None:
                raise ValueError("reasoning_following head needs a reasoning_embedding")
            fixed["reasoning"] = (self.reasoning_proj(reasoning_embedding) if pooled
                                  else torch.zeros_like(fixed["observation"]))
        if self.target_proj is not None:
            if target is None:
                raise ValueError("a head with a target locator needs the located target (B, 2)")
            fixed[self.condition_names()[-1]] = fixed[self.condition_names()[-1]] + self.target_proj(target)
        repeats = t_emb.shape[0] // state.shape[0]
        return {name: t_emb + value.repeat(repeats, 1) for name, value in fixed.items()}

    def locate(self, context: TokenContext | None, names: torch.Tensor | None = None):
        """The target locator's `Located` for this context (None for a head without a locator);
        `names`: the true named fields in training (TargetLocator.forward)."""
        if self.locator is None:
            return None
        if context is None:
            raise ValueError("a head with a target locator needs the VLM's token states (a TokenContext)")
        return self.locator(context, names)

    def modulations(self, conditions: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each block's (N, 6W) and the final layer's (N, 2W) AdaLN modulation."""
        names = self.condition_names()
        blocks = [block.adaLN_modulation(conditions[name]) for block, name in zip(self.blocks, names)]
        return blocks, self.final.adaLN_modulation(conditions[names[-1]])

    def memory(self, context: TokenContext | None) -> tuple[torch.Tensor, list[torch.Tensor]] | None:
        """Token attention's encoded context (B, T, W) and each block's `ignore` mask (B, T):
        observation blocks see the prompt tokens, reasoning blocks the reasoning tokens as well."""
        if self.context_encoder is None:
            return None
        if context is None:
            raise ValueError("a token-attention head needs the VLM's token states (a TokenContext)")
        ignore = {"observation": ~(context.valid & ~context.reasoning), "reasoning": ~context.valid}
        return self.context_encoder(context), [ignore[name] for name in self.condition_names()]

    def tokens(self, noisy_actions: torch.Tensor, state_token: torch.Tensor, blocks: list[torch.Tensor],
               final: torch.Tensor, memory: tuple[torch.Tensor, list[torch.Tensor]] | None = None) -> torch.Tensor:
        """The token path: noisy_actions (B, H, A), state_token (B, 1, W) -> predicted noise (B, H, A)."""
        x = torch.cat([state_token, self.action_in(noisy_actions)], dim=1) + self.position  # (B, 1+H, W)
        encoded, ignores = memory if memory is not None else (None, [None] * len(self.blocks))
        for block, modulation, ignore in zip(self.blocks, blocks, ignores):
            x = block(x, modulation=modulation, memory=encoded, ignore=ignore)
        return self.final(x[:, 1:], modulation=final)

    def forward(self, noisy_actions: torch.Tensor, timesteps: torch.Tensor, state: torch.Tensor,
                observation_embedding: torch.Tensor, reasoning_embedding: torch.Tensor | None,
                context: TokenContext | None = None, target: torch.Tensor | None = None) -> torch.Tensor:
        """target: the located (B, 2) for a head with a locator; located from `context` when None."""
        if self.locator is not None and target is None:
            target = self.locate(context).target
        blocks, final = self.modulations(self.conditions(timesteps, state, observation_embedding, reasoning_embedding,
                                                         target))
        return self.tokens(noisy_actions, self.state_in(state)[:, None], blocks, final, self.memory(context))

    def denoiser(self, timesteps: list[int], state: torch.Tensor, observation_embedding: torch.Tensor,
                 reasoning_embedding: torch.Tensor | None, context: TokenContext | None = None):
        """`predict_noise(sample (B, H, A), t (B,)) -> (B, H, A)` for sampling at these timesteps,
        with every sample-independent term (the encoded token context too) computed once for all of them."""
        batch = state.shape[0]
        steps = torch.tensor(timesteps, device=state.device).repeat_interleave(batch)  # (K*B,) step-major
        target = self.locate(context).target if self.locator is not None else None
        blocks, final = self.modulations(self.conditions(steps, state, observation_embedding, reasoning_embedding,
                                                         target))
        state_token = self.state_in(state)[:, None]  # (B, 1, W)
        memory = self.memory(context)
        rows = {step: slice(k * batch, (k + 1) * batch) for k, step in enumerate(timesteps)}

        def predict_noise(sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            row = rows[int(t[0])]
            return self.tokens(sample, state_token, [m[row] for m in blocks], final[row], memory)

        return predict_noise


NEW_PART_KEYS = {"token_attention": (".cross_attention.", "context_encoder."),
                 "target_locator": ("locator.", "target_proj.")}


def add_head_parts(head: ReasoningFollowingHead, embedding_dim: int, **parts: bool) -> ReasoningFollowingHead:
    """A head with the named parts switched on (`token_attention=True`, `target_locator=True`) that
    computes what `head` computes: its weights copied, each new part's output starting at zero. For
    training such a part on top of a head trained without it."""
    unknown = set(parts) - set(NEW_PART_KEYS)
    if unknown:
        raise ValueError(f"unknown head parts {sorted(unknown)}; known: {sorted(NEW_PART_KEYS)}")
    wanted = {name: True for name, on in parts.items() if on and not getattr(head.config, name)}
    if not wanted:
        return head
    parameter = next(head.parameters())
    extended = ReasoningFollowingHead(replace(head.config, **wanted), embedding_dim)
    missing, unexpected = extended.load_state_dict(head.state_dict(), strict=False)
    new_keys = tuple(key for name in wanted for key in NEW_PART_KEYS[name])
    if unexpected or not all(any(part in key for part in new_keys) for key in missing):
        raise RuntimeError(f"head weights do not fit a head with {sorted(wanted)}: missing {missing}, "
                           f"unexpected {unexpected}")
    return extended.to(parameter.device, parameter.dtype)


def add_token_attention(head: ReasoningFollowingHead, embedding_dim: int) -> ReasoningFollowingHead:
    """A head with token attention that computes what `head` computes (its weights copied, the new
    cross-attention's output at zero), for training token attention on top of a head trained without it."""
    return add_head_parts(head, embedding_dim, token_attention=True)
