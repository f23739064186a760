"""Pixel-wise noise corruptions (ImageNet-C / MNIST-C noise kinds).

Plain torch: each is one or two tensor ops, so a library adds nothing. Draws come from
the caller's generator, which must live on ``x``'s device.
"""

from __future__ import annotations

import torch


def gaussian_noise(x: torch.Tensor, sigma: float, g: torch.Generator) -> torch.Tensor:
    """Additive N(0, sigma^2) noise."""
    noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    return (x + sigma * noise).clamp(0.0, 1.0)


def shot_noise(x: torch.Tensor, photons: float, g: torch.Generator) -> torch.Tensor:
    """Poisson photon noise: fewer photons per unit intensity is noisier."""
    return (torch.poisson(x * photons, generator=g) / photons).clamp(0.0, 1.0)


def impulse_noise(x: torch.Tensor, amount: float, g: torch.Generator) -> torch.Tensor:
    """Salt and pepper: a share ``amount`` of pixels set to 1 or 0 with equal odds."""
    u = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype)
    x = torch.where(u < amount / 2, torch.ones_like(x), x)
    return torch.where((u >= amount / 2) & (u < amount), torch.zeros_like(x), x)


def speckle_noise(x: torch.Tensor, sigma: float, g: torch.Generator) -> torch.Tensor:
    """Multiplicative noise x (1 + N(0, sigma^2)): it only touches ink, never background."""
    noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    return (x + x * sigma * noise).clamp(0.0, 1.0)
