"""Intensity and resolution corruptions: brightness, contrast, pixelate, JPEG."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.enhance import jpeg_codec_differentiable


def brightness(x: torch.Tensor, shift: float, g: torch.Generator) -> torch.Tensor:
    """MNIST-C raises HSV value; for a gray image that is adding ``shift``."""
    return (x + shift).clamp(0.0, 1.0)


def contrast(x: torch.Tensor, factor: float, g: torch.Generator) -> torch.Tensor:
    """Pull every pixel towards its image's mean by ``factor`` (< 1)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0.0, 1.0)


def pixelate(x: torch.Tensor, factor: float, g: torch.Generator) -> torch.Tensor:
    """Area-downsample to ``factor`` of the side, then blow back up with nearest (PIL BOX)."""
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(int(h * factor), int(w * factor)), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest").clamp(0.0, 1.0)


def jpeg(x: torch.Tensor, quality: float, g: torch.Generator) -> torch.Tensor:
    """JPEG encode/decode at ``quality`` with kornia's batched codec (standard tables).

    The codec takes RGB: a gray image is repeated over three channels, so its chroma is
    flat and only the luma path (8x8 DCT, quantisation) acts. kornia rounds with a smooth
    polynomial (round(t) + (t - round(t))^3), so coefficients land within 1/8 of a
    quantisation step of what libjpeg gives; the artifacts (ringing, 8x8 blocks) are the same.
    """
    q = x.new_tensor([float(quality)])
    return jpeg_codec_differentiable(x.expand(-1, 3, -1, -1), q).mean(1, keepdim=True).clamp(0, 1)
