"""The noise scheduler of the action head: DDPM training, DDIM sampling (DexVLA's settings).

Squared-cosine beta schedule (Nichol & Dhariwal 2021) over `train_timesteps` (100), epsilon
prediction, deterministic DDIM (eta = 0) over `inference_steps` (10) evenly spaced ("leading")
timesteps, samples clipped to [-1, 1] because actions are min-max scaled to that range.
It owns no parameters: the denoising network and the normalisation are separate objects.
"""
from __future__ import annotations

import math
from typing import Callable

import torch


def squared_cosine_betas(steps: int, max_beta: float = 0.999) -> torch.Tensor:
    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return torch.tensor([min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), max_beta)
                         for i in range(steps)], dtype=torch.float64)


class NoiseScheduler:
    def __init__(self, train_timesteps: int = 100) -> None:
        self.train_timesteps = train_timesteps
        self.alphas_cumprod = torch.cumprod(1.0 - squared_cosine_betas(train_timesteps), dim=0)  # (K,)

    def add_noise(self, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """q(x_t | x_0): clean, noise (B, H, A), timesteps (B,) long -> (B, H, A)."""
        alpha_bar = self.alphas_cumprod.to(clean.device)[timesteps].to(clean.dtype)[:, None, None]  # (B, 1, 1)
        return alpha_bar.sqrt() * clean + (1 - alpha_bar).sqrt() * noise

    def sample_timesteps(self, batch: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(0, self.train_timesteps, (batch,), device=device, generator=generator)

    def inference_timesteps(self, steps: int) -> list[int]:
        ratio = self.train_timesteps // steps
        return [index * ratio for index in reversed(range(steps))]

    @torch.no_grad()
    def ddim_sample(self, predict_noise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    shape: tuple[int, ...], steps: int, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                    inpaint: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Denoise from N(0, I) with `predict_noise(x_t (B, H, A), t (B,)) -> eps (B, H, A)`.

        inpaint (target (B, H, A) in the sampler's units, weights (H,) in [0, 1]): after every step
        the predicted clean sample becomes `w * target + (1 - w) * predicted` (real-time chunking
        by replacement, policy/realtime_chunking.py); rows with w = 1 come out equal to target."""
        noise_device = generator.device if generator is not None else device
        sample = torch.randn(shape, generator=generator, device=noise_device, dtype=dtype).to(device)  # (B, H, A)
        timesteps = self.inference_timesteps(steps)
        alphas = self.alphas_cumprod
        for index, step in enumerate(timesteps):
            previous = timesteps[index + 1] if index + 1 < len(timesteps) else -1
            alpha_t = float(alphas[step])
            alpha_prev = float(alphas[previous]) if previous >= 0 else 1.0
            t = torch.full((shape[0],), step, device=device, dtype=torch.long)
            eps = predict_noise(sample, t)
            clean = ((sample - math.sqrt(1 - alpha_t) * eps) / math.sqrt(alpha_t)).clamp(-1.0, 1.0)
            if inpaint is not None:
                target, weights = inpaint
                w = weights.to(device=device, dtype=clean.dtype)[None, :, None]  # (1, H, 1)
                clean = w * target.to(device=device, dtype=clean.dtype) + (1.0 - w) * clean
            # Re-derive eps from the clipped (and inpainted) estimate so the update stays consistent.
            eps = (sample - math.sqrt(alpha_t) * clean) / math.sqrt(1 - alpha_t)
            sample = math.sqrt(alpha_prev) * clean + math.sqrt(1 - alpha_prev) * eps
        return sample
