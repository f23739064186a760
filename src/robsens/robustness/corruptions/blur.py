"""Blur corruptions; kornia supplies the batched, device-aware Gaussian and motion kernels."""

from __future__ import annotations

import math

import torch
from kornia.filters import gaussian_blur2d
from kornia.filters import motion_blur as kornia_motion_blur


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur truncated at 3 sigma, edges replicated (skimage's ``nearest``)."""
    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="replicate")


def gaussian_blur(x: torch.Tensor, sigma: float, g: torch.Generator) -> torch.Tensor:
    return blur(x, sigma).clamp(0.0, 1.0)


def _local_shuffle(x: torch.Tensor, delta: int, g: torch.Generator) -> torch.Tensor:
    """Each interior pixel, with odds 1/2, takes the value of a neighbour up to ``delta`` away.

    MNIST-C swaps pixels one after another, which cannot be batched; a simultaneous random
    gather over the same neighbourhood gives the same frosted-glass look in one op.
    """
    n, _, h, w = x.shape
    offsets = torch.randint(-delta, delta, (2, n, 1, h, w), generator=g, device=x.device)
    move = torch.rand((n, 1, h, w), generator=g, device=x.device) < 0.5
    rows = torch.arange(h, device=x.device).view(h, 1)
    cols = torch.arange(w, device=x.device).view(1, w)
    interior = (rows > delta) & (rows <= h - delta) & (cols > delta) & (cols <= w - delta)
    move = move & interior
    src_rows = torch.where(move, rows + offsets[0], rows)
    src_cols = torch.where(move, cols + offsets[1], cols)
    return x.flatten(2).gather(2, (src_rows * w + src_cols).flatten(2)).view_as(x)


def glass_blur(x: torch.Tensor, params: tuple[float, int, int], g: torch.Generator) -> torch.Tensor:
    """Blur, locally shuffle pixels ``iterations`` times, blur again (MNIST-C)."""
    sigma, delta, iterations = params
    x = blur(x, sigma)
    for _ in range(iterations):
        x = _local_shuffle(x, delta, g)
    return blur(x, sigma).clamp(0.0, 1.0)


def motion_blur(x: torch.Tensor, kernel_size: int, g: torch.Generator) -> torch.Tensor:
    """Linear motion blur of ``kernel_size`` px at a random angle in [-45, 45] degrees."""
    angle = torch.rand(x.shape[0], generator=g, device=x.device, dtype=x.dtype) * 90 - 45
    direction = torch.zeros_like(angle)
    return kornia_motion_blur(x, kernel_size, angle, direction, border_type="constant").clamp(
        0.0, 1.0
    )
