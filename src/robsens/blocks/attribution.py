"""Contextual utility and sensitivity maps (docs/science.md section 2), for FCL and evaluation.

Utility says how much the loss cares about a feature in this context; sensitivity says how
much the embedding g moves when the feature moves. Features are pixels (gradient forms) or
regions such as p x p patches (perturbation forms). Models must expose ``embed`` (g) and
``head`` (h) with ``forward = head(embed(x))``, like :class:`robsens.blocks.model.CornerNet`.
Functions that process large batches do so in chunks of at most ``chunk_size`` images per
forward pass (perturbation maps count each (image, region) copy as one image); random draws
are made up front, so results do not depend on the chunk size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from robsens.blocks.perturb import perturbed_values

REDUCTIONS = ("sum", "mean")


def input_gradient(
    loss_sum: torch.Tensor, x: torch.Tensor, create_graph: bool = False
) -> torch.Tensor:
    """d loss_sum / dx, keeping the graph so the caller can still backpropagate the loss.

    Pass the *sum* of per-example losses: each example's slice of the result is then the
    gradient of its own loss. ``x`` must have ``requires_grad`` set before the forward.
    """
    (grad,) = torch.autograd.grad(loss_sum, x, retain_graph=True, create_graph=create_graph)
    return grad


def gradient_utility(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """u = |dl(f(x), y)/dx| per pixel, (B, 1, H, W), detached."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")
        return input_gradient(loss, x).abs().detach()


def patch_reduce(maps: torch.Tensor, patch: int, reduce: str) -> torch.Tensor:
    """Pixel maps (B, 1, H, W) -> patch maps (B, (H/p) * (W/p)), row-major over patches."""
    if maps.shape[-1] % patch or maps.shape[-2] % patch:
        raise ValueError(f"patch {patch} does not tile a {tuple(maps.shape[-2:])} image")
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    pooled = F.avg_pool2d(maps, patch).flatten(1)
    return pooled * patch * patch if reduce == "sum" else pooled


def patches_to_pixels(patch_values: torch.Tensor, patch: int, side: int) -> torch.Tensor:
    """Patch values or masks (B, P) -> pixel maps (B, 1, side, side), the inverse layout."""
    n = side // patch
    grid = patch_values.reshape(-1, 1, n, 1, n, 1)  # one copy (expand), not two
    return grid.expand(-1, 1, n, patch, n, patch).reshape(-1, 1, side, side)


def patch_masks(side: int, patch: int, device: torch.device | str) -> torch.Tensor:
    """One boolean pixel mask per p x p patch, (P, 1, side, side), in patch_reduce's order."""
    n_patches = (side // patch) ** 2
    return patches_to_pixels(torch.eye(n_patches, dtype=torch.bool, device=device), patch, side)


def _random_subset(allowed: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Per row, a mask of k features drawn uniformly among the ``allowed`` ones."""
    if int(allowed.sum(1).min()) < k:
        raise ValueError(f"fewer than k={k} features to draw from")
    scores = torch.rand(allowed.shape, generator=generator, device=allowed.device)
    scores = scores.masked_fill(~allowed, -1.0)
    chosen = torch.zeros_like(allowed)
    return chosen.scatter_(1, scores.topk(k, dim=1).indices, True)


def _low_pool(order: torch.Tensor, k: int, low_pool: float) -> torch.Tensor:
    """Mask of the lowest-utility ``low_pool`` fraction of features (``order`` ascending)."""
    n_features = order.shape[1]
    n_pool = round(low_pool * n_features)
    if not k <= n_pool <= n_features - k:
        raise ValueError(f"low pool of {n_pool} features must hold k={k} and leave k for H")
    pool = torch.zeros(order.shape, dtype=torch.bool, device=order.device)
    return pool.scatter_(1, order[:, :n_pool], True)


def select_high_low(
    utility: torch.Tensor, k: int, generator: torch.Generator, low_pool: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """FCL's feature sets as boolean masks shaped like ``utility`` (B, ...).

    H is exactly the k highest-utility features; L is k features drawn at random from the
    lowest ``low_pool`` fraction (the low end, not the complement), disjoint from H.
    """
    flat = utility.detach().flatten(1)
    order = flat.argsort(dim=1, stable=True)
    high = torch.zeros(flat.shape, dtype=torch.bool, device=flat.device)
    high.scatter_(1, order[:, flat.shape[1] - k :], True)
    low = _random_subset(_low_pool(order, k, low_pool) & ~high, k, generator)
    return high.view_as(utility), low.view_as(utility)


def select_random(
    utility: torch.Tensor, k: int, generator: torch.Generator, low_pool: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """FCL-random's ablation: L as in :func:`select_high_low`, H uniformly at random.

    H is drawn among the features not in L, so the two stay disjoint.
    """
    flat = utility.detach().flatten(1)
    order = flat.argsort(dim=1, stable=True)
    low = _random_subset(_low_pool(order, k, low_pool), k, generator)
    high = _random_subset(~low, k, generator)
    return high.view_as(utility), low.view_as(utility)


@torch.no_grad()
def perturbation_maps(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    regions: torch.Tensor,
    kind: str,
    strength: float,
    generator: torch.Generator,
    chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Perturbation utility U_R and sensitivity S_R for every image and region, (B, R) each.

    ``regions`` is (R, 1, H, W) bool (all patches from :func:`patch_masks`, or a single
    corner mask). U_R = |l(x_R) - l(x)|, S_R = ||g(x_R) - g(x)|| / ||g(x)||. Each image's
    perturbed values are drawn once and shared by all its regions, and all (image, region)
    pairs go through the model in chunks, never one at a time.
    """
    regions = regions.to(x.device)
    n_regions = regions.shape[0]
    values = perturbed_values(x, kind, strength, generator)
    per_chunk = max(1, chunk_size // n_regions)
    utilities, sensitivities = [], []
    for start in range(0, x.shape[0], per_chunk):
        xb, vb, yb = (t[start : start + per_chunk] for t in (x, values, y))
        g0 = model.embed(xb)
        loss0 = F.cross_entropy(model.head(g0), yb, reduction="none")
        xr = torch.where(regions, vb[:, None], xb[:, None]).flatten(0, 1)
        gr = model.embed(xr).view(xb.shape[0], n_regions, -1)
        logits = model.head(gr).flatten(0, 1)
        loss_r = F.cross_entropy(logits, yb.repeat_interleave(n_regions), reduction="none")
        utilities.append((loss_r.view(-1, n_regions) - loss0[:, None]).abs())
        shift = (gr - g0[:, None]).norm(dim=-1)
        sensitivities.append(shift / g0.norm(dim=-1, keepdim=True).clamp_min(1e-12))
    return torch.cat(utilities), torch.cat(sensitivities)


def randomized_gradient_sensitivity(
    model: nn.Module,
    x: torch.Tensor,
    n_probes: int,
    generator: torch.Generator,
    chunk_size: int,
) -> torch.Tensor:
    """Estimate s_i = ||J_{:,i}||_2 of g without the Jacobian, (B, 1, H, W).

    For v ~ N(0, I), E[(v^T J)_i^2] = ||J_{:,i}||^2: the mean of squared vector-Jacobian
    products over ``n_probes`` probes is unbiased for s_i^2 (its square root is returned).
    One forward pass per chunk of images serves all probes' backward passes.
    """
    x = x.detach()
    with torch.no_grad():
        embed_dim = model.embed(x[:1]).shape[1]
    probes = torch.randn(
        (n_probes, x.shape[0], embed_dim), generator=generator, device=x.device, dtype=x.dtype
    )
    estimates = []
    with torch.enable_grad():
        for start in range(0, x.shape[0], chunk_size):
            xb = x[start : start + chunk_size].clone().requires_grad_(True)
            g = model.embed(xb)
            squares = torch.zeros_like(xb)
            for v in probes[:, start : start + chunk_size]:
                (vjp,) = torch.autograd.grad(g, xb, grad_outputs=v, retain_graph=True)
                squares += vjp.square()
            estimates.append(squares / n_probes)
    return torch.cat(estimates).sqrt()


def select_low(
    utility: torch.Tensor, high: torch.Tensor, k: int, generator: torch.Generator,
    low_pool: float
) -> torch.Tensor:
    """L for an H chosen otherwise (FCL's oracle control), drawn as :func:`select_high_low`
    draws it: k features at random from the lowest ``low_pool`` fraction, outside ``high``."""
    flat = utility.detach().flatten(1)
    order = flat.argsort(dim=1, stable=True)
    low = _random_subset(_low_pool(order, k, low_pool) & ~high.flatten(1), k, generator)
    return low.view_as(utility)


@torch.no_grad()
def masking_utility(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, patch: int, chunk_size: int
) -> torch.Tensor:
    """U_R = |l(f(x with patch R set to 0), y) - l(f(x), y)| per image and p x p patch, (B, P).

    The masking form of section 2's perturbation utility, exact but cheaper than
    :func:`perturbation_maps` over every patch: setting an all-zero patch to 0 leaves the image
    as it is (U_R = 0), so only the (image, patch) pairs with a nonzero pixel go through the
    model (about 40% of the 2 px patches of corner-digit images), ``chunk_size`` copies per
    forward pass. No randomness: the result depends on the weights and the batch only.
    """
    x = x.detach()
    loss = F.cross_entropy(model(x), y, reduction="none")
    masks = patch_masks(x.shape[-1], patch, x.device)
    inked = patch_reduce((x != 0).to(x.dtype), patch, "sum") > 0
    image, region = inked.nonzero(as_tuple=True)
    utility = torch.zeros(inked.shape, dtype=x.dtype, device=x.device)
    for start in range(0, len(image), chunk_size):
        i, r = image[start : start + chunk_size], region[start : start + chunk_size]
        masked = F.cross_entropy(model(x[i].masked_fill(masks[r], 0.0)), y[i], reduction="none")
        utility[i, r] = (masked - loss[i]).abs()
    return utility
