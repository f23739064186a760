"""Feature perturbations applied only on a mask: FCL's views and perturbation-form maps.

The replacement values are computed once per image (:func:`perturbed_values`) and then
selected by a mask, so many masks of the same image (every patch, in the perturbation maps)
share one draw of noise or one donor image instead of redrawing per patch.
"""

from __future__ import annotations

import torch

KINDS = ("gaussian", "mask", "replace")


def donor_permutation(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Indices such that image i takes its donor from another image (a derangement for n > 1).

    A random order followed by a cyclic shift: every image gets a donor, never itself.
    """
    order = torch.randperm(n, generator=generator, device=device)
    donors = torch.empty_like(order)
    donors[order] = order.roll(1)
    return donors


def perturbed_values(
    x: torch.Tensor, kind: str, strength: float, generator: torch.Generator
) -> torch.Tensor:
    """The whole batch perturbed everywhere; a mask then decides which pixels use it.

    ``gaussian`` adds N(0, strength^2) and clamps to [0, 1]; ``mask`` sets pixels to 0;
    ``replace`` takes the pixels of another image of the batch. ``strength`` is used by
    ``gaussian`` only. ``generator`` must live on ``x``'s device.
    """
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + strength * noise).clamp(0.0, 1.0)
    if kind == "mask":
        return torch.zeros_like(x)
    if kind == "replace":
        return x[donor_permutation(x.shape[0], generator, x.device)]
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def perturb(
    x: torch.Tensor,
    mask: torch.Tensor,
    kind: str,
    strength: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """``x`` (B, 1, H, W) with only the pixels where ``mask`` is True perturbed.

    ``mask`` is boolean and broadcastable to ``x`` (e.g. (B, 1, H, W) or (H, W)).
    """
    return torch.where(mask, perturbed_values(x, kind, strength, generator), x)
