"""Affine corruptions about the image centre; kornia builds and applies the batched warps.

Like MNIST-C (skimage ``warp``, order 1): bilinear sampling, zero fill, pixel-centre
coordinates (``align_corners=True``), centre (13.5, 13.5) fixed.
"""

from __future__ import annotations

import math

import torch
from kornia.geometry.transform import get_affine_matrix2d, warp_affine


def _random_sign(shape: tuple[int, ...], g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    signs = torch.randint(0, 2, shape, generator=g, device=like.device)
    return (2 * signs - 1).to(like.dtype)


def _affine(
    x: torch.Tensor,
    *,
    angle_deg: torch.Tensor | None = None,
    zoom: float = 1.0,
    shear_rad: torch.Tensor | None = None,
    shift: torch.Tensor | None = None,
) -> torch.Tensor:
    """Warp each image by its own rotation / shear / shift (and a common zoom)."""
    n, _, h, w = x.shape
    zeros = x.new_zeros(n)
    matrix = get_affine_matrix2d(
        translations=x.new_zeros(n, 2) if shift is None else shift,
        center=x.new_tensor([(w - 1) / 2, (h - 1) / 2]).expand(n, 2),
        scale=x.new_full((n, 2), zoom),
        angle=zeros if angle_deg is None else angle_deg,
        sx=zeros if shear_rad is None else shear_rad,
        sy=zeros,
    )
    return warp_affine(x, matrix[:, :2], (h, w), align_corners=True).clamp(0.0, 1.0)


def shear(x: torch.Tensor, angle_rad: float, g: torch.Generator) -> torch.Tensor:
    """Horizontal shear by ``angle_rad``, direction random per image."""
    return _affine(x, shear_rad=angle_rad * _random_sign((x.shape[0],), g, x))


def rotate(x: torch.Tensor, angle_rad: float, g: torch.Generator) -> torch.Tensor:
    """Rotation by ``angle_rad``, direction random per image."""
    return _affine(x, angle_deg=math.degrees(angle_rad) * _random_sign((x.shape[0],), g, x))


def scale(x: torch.Tensor, zoom: float, g: torch.Generator) -> torch.Tensor:
    """Shrink the content by ``zoom`` (< 1) about the centre."""
    return _affine(x, zoom=zoom)


def translate(x: torch.Tensor, pixels: float, g: torch.Generator) -> torch.Tensor:
    """Shift by ``pixels`` along both axes, each direction random per image."""
    return _affine(x, shift=pixels * _random_sign((x.shape[0], 2), g, x))
