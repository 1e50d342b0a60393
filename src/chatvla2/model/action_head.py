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

Sampling calls the head once per DDIM step with the same state and embeddings; only the timestep
changes. `denoiser(timesteps, ...)` therefore computes every condition and every block's AdaLN
modulation for all steps in one batched pass up front, and returns a `predict_noise(sample, t)`
that runs only the token path: the same numbers as calling the head per step, less work per step.
"""
from __future__ import annotations

import math

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


class DiTBlock(nn.Module):
    def __init__(self, width: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.adaLN_modulation[1].weight)
        nn.init.zeros_(self.adaLN_modulation[1].bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None,
                modulation: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, L, W), condition (B, W) or its precomputed `adaLN_modulation` (B, 6W) -> (B, L, W)."""
        if modulation is None:
            modulation = self.adaLN_modulation(condition)
        shift1, scale1, gate1, shift2, scale2, gate2 = modulation.chunk(6, dim=-1)
        h = modulate(self.norm1(x), shift1, scale1)
        x = x + gate1[:, None] * self.attn(h, h, h, need_weights=False)[0]
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
        self.blocks = nn.ModuleList([DiTBlock(width, config.num_heads, config.mlp_ratio) for _ in range(config.depth)])
        self.final = FinalLayer(width, config.action_dim)

    def condition_names(self) -> list[str]:
        """Which embedding conditions each block: 'observation' or 'reasoning'."""
        split = self.config.depth // 2 if self.config.reasoning_following else self.config.depth
        return ["observation" if index < split else "reasoning" for index in range(self.config.depth)]

    def conditions(self, timesteps: torch.Tensor, state: torch.Tensor, observation_embedding: torch.Tensor,
                   reasoning_embedding: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Condition name -> (N, W). timesteps (N,) with N a multiple of the batch B: row n pairs
        timestep n with example n % B (several steps' conditions in one call)."""
        sinusoid = timestep_embedding(timesteps, self.config.width)  # (N, W) float32
        t_emb = self.time_mlp(sinusoid.to(self.time_mlp[0].weight.dtype))  # a bf16 head runs in bf16
        fixed = {"observation": self.observation_proj(observation_embedding) + self.state_cond(state)}  # (B, W)
        if self.config.reasoning_following:
            if reasoning_embedding is None:
                raise ValueError("reasoning_following head needs a reasoning_embedding")
            fixed["reasoning"] = self.reasoning_proj(reasoning_embedding)
        repeats = t_emb.shape[0] // state.shape[0]
        return {name: t_emb + value.repeat(repeats, 1) for name, value in fixed.items()}

    def modulations(self, conditions: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each block's (N, 6W) and the final layer's (N, 2W) AdaLN modulation."""
        names = self.condition_names()
        blocks = [block.adaLN_modulation(conditions[name]) for block, name in zip(self.blocks, names)]
        return blocks, self.final.adaLN_modulation(conditions[names[-1]])

    def tokens(self, noisy_actions: torch.Tensor, state_token: torch.Tensor, blocks: list[torch.Tensor],
               final: torch.Tensor) -> torch.Tensor:
        """The token path: noisy_actions (B, H, A), state_token (B, 1, W) -> predicted noise (B, H, A)."""
        x = torch.cat([state_token, self.action_in(noisy_actions)], dim=1) + self.position  # (B, 1+H, W)
        for block, modulation in zip(self.blocks, blocks):
            x = block(x, modulation=modulation)
        return self.final(x[:, 1:], modulation=final)

    def forward(self, noisy_actions: torch.Tensor, timesteps: torch.Tensor, state: torch.Tensor,
                observation_embedding: torch.Tensor, reasoning_embedding: torch.Tensor | None) -> torch.Tensor:
        blocks, final = self.modulations(self.conditions(timesteps, state, observation_embedding, reasoning_embedding))
        return self.tokens(noisy_actions, self.state_in(state)[:, None], blocks, final)

    def denoiser(self, timesteps: list[int], state: torch.Tensor, observation_embedding: torch.Tensor,
                 reasoning_embedding: torch.Tensor | None):
        """`predict_noise(sample (B, H, A), t (B,)) -> (B, H, A)` for sampling at these timesteps,
        with every sample-independent term computed once for all of them."""
        batch = state.shape[0]
        steps = torch.tensor(timesteps, device=state.device).repeat_interleave(batch)  # (K*B,) step-major
        blocks, final = self.modulations(self.conditions(steps, state, observation_embedding, reasoning_embedding))
        state_token = self.state_in(state)[:, None]  # (B, 1, W)
        rows = {step: slice(k * batch, (k + 1) * batch) for k, step in enumerate(timesteps)}

        def predict_noise(sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            row = rows[int(t[0])]
            return self.tokens(sample, state_token, [m[row] for m in blocks], final[row])

        return predict_noise
