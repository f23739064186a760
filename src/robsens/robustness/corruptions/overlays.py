"""Corruptions that add or replace structure: stripes, fog, spatter, lines, edges.

kornia supplies the plasma fractal (fog), the blur (spatter) and Canny; the line drawings
follow MNIST-C's analytic stroke profile, evaluated on the whole pixel grid at once.
"""

from __future__ import annotations

from functools import partial

import torch
from kornia.contrib import diamond_square
from kornia.filters import canny

from robsens.robustness.corruptions.blur import blur

MUD = 63 / 255  # MNIST-C's spatter colour
STROKE_REACH = 2.3  # px: MNIST-C's line profile log(1 - d / reach) + 1
ZIGZAG_COLS = (2, 25)  # MNIST-C: zigzags run across these columns
ZIGZAG_HALF_PERIOD, ZIGZAG_AMPLITUDE = 2.0, 2.0  # px, MNIST-C's a and b


def _grid(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column coordinates, shaped to broadcast against (N, K, H, W)."""
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)
    cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, 1, w)
    return rows, cols


def _stroke(distance: torch.Tensor) -> torch.Tensor:
    """Ink of an anti-aliased line at a given distance from its centre line (MNIST-C)."""
    d = distance.clamp(0.0, STROKE_REACH - 1e-6)
    return (torch.log1p(-d / STROKE_REACH) + 1).clamp(0.0, 1.0)


def _row_draws(x: torch.Tensor, count: int, low: int, high: int, g: torch.Generator):
    """(N, count, 1, 1) integer draws in [low, high) as floats: one per line per image."""
    draws = torch.randint(low, high, (x.shape[0], count, 1, 1), generator=g, device=x.device)
    return draws.to(x.dtype)


def stripe(x: torch.Tensor, width: int, g: torch.Generator) -> torch.Tensor:
    """Invert a band of ``width`` columns at the left and at the right edge."""
    w = x.shape[-1]
    cols = torch.arange(w, device=x.device)
    band = (cols < width) | (cols >= w - width)
    return torch.where(band, 1.0 - x, x)


def fog(x: torch.Tensor, params: tuple[float, float], g: torch.Generator) -> torch.Tensor:
    """Add a plasma fractal of ``strength``, then rescale to keep the image's peak (MNIST-C).

    ``decay`` is MNIST-C's per-level amplitude decay; kornia's diamond-square takes its
    inverse as ``roughness`` (a per-level mixing weight), so larger decay = smoother fog.
    """
    strength, decay = params
    plasma = diamond_square(
        tuple(x.shape),
        roughness=1.0 / decay,
        random_fn=partial(torch.rand, generator=g),
        normalize_range=(0.0, 1.0),
        device=x.device,
        dtype=x.dtype,
    )
    peak = x.amax(dim=(2, 3), keepdim=True)
    return ((x + strength * plasma) * peak / (peak + strength)).clamp(0.0, 1.0)


def spatter(
    x: torch.Tensor, params: tuple[float, float, float, float, float], g: torch.Generator
) -> torch.Tensor:
    """Mud blobs: thresholded blurred noise, its edge softened, painted in gray (MNIST-C)."""
    loc, spread, sigma, threshold, edge_sigma = params
    liquid = blur(loc + spread * torch.randn(x.shape, generator=g, device=x.device), sigma)
    mask = blur((liquid > threshold).to(x.dtype), edge_sigma)
    mask = torch.where(mask < 0.8, torch.zeros_like(mask), mask)
    return (x * (1 - mask) + MUD * mask).clamp(0.0, 1.0)


def dotted_line(x: torch.Tensor, count: int, g: torch.Generator) -> torch.Tensor:
    """``count`` dashed lines from the left to the right edge between random rows."""
    h, w = x.shape[-2:]
    rows, cols = _grid(x)
    start, end = _row_draws(x, count, 0, h - 1, g), _row_draws(x, count, 0, h - 1, g)
    centre = start + (end - start) * cols / (w - 1)
    ink = _stroke((rows - centre).abs()).amax(dim=1, keepdim=True)
    dashes = (torch.arange(w, device=x.device) // 2) % 2 == 1  # 2 px on, 2 px off
    return (x + ink * dashes).clamp(0.0, 1.0)


def _triangle_wave(u: torch.Tensor) -> torch.Tensor:
    """MNIST-C's zigzag profile: 0 at u = 0, peaks +-b at u = a, 3a, 5a, ..."""
    a, b = ZIGZAG_HALF_PERIOD, ZIGZAG_AMPLITUDE
    return b * (((u - a) % (4 * a) - 2 * a).abs() / a - 1)


def zigzag(x: torch.Tensor, count: int, g: torch.Generator) -> torch.Tensor:
    """``count`` zigzag lines across the image, each slightly tilted at a random row.

    Drawn in each line's own frame (u along it, v across it) as distance to a triangle wave.
    """
    h = x.shape[-2]
    rows, cols = _grid(x)
    c0, c1 = ZIGZAG_COLS
    r0 = _row_draws(x, count, 0, h - 1, g)
    theta = torch.atan(_row_draws(x, count, -5, 5, g) / (c1 - c0))
    cos, sin = torch.cos(theta), torch.sin(theta)
    u = (cols - c0) * cos + (rows - r0) * sin
    v = (rows - r0) * cos - (cols - c0) * sin
    on_line = (u >= 0) & (u <= (c1 - c0) / cos)
    ink = (_stroke((v - _triangle_wave(u)).abs()) * on_line).amax(dim=1, keepdim=True)
    return (x + ink).clamp(0.0, 1.0)


def canny_edges(x: torch.Tensor, weight: float, g: torch.Generator) -> torch.Tensor:
    """Blend the Canny edge map in by ``weight``; 1 is MNIST-C's edges-only image.

    kornia's defaults (sigma 1, thresholds 0.1 / 0.2 on the unnormalised Sobel magnitude)
    match skimage's ``feature.canny`` that MNIST-C uses.
    """
    _, edges = canny(x)
    return ((1 - weight) * x + weight * edges).clamp(0.0, 1.0)
