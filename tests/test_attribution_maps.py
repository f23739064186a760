"""Issue 5's properties of the maps on hand-built models whose answer is known."""

from __future__ import annotations

import torch
from torch import nn

from robsens.blocks.attribution import (
    gradient_utility,
    patch_masks,
    patch_reduce,
    perturbation_maps,
    randomized_gradient_sensitivity,
)
from robsens.blocks.model import CornerNet

from .reference import exact_gradient_sensitivity

PATCH = 7
PLANTED = 9  # patch index (row 2, column 1 of the 4 x 4 grid)



class MaskedLinear(nn.Module):
    """g(x) = tanh(W (x * weight_map)); per-pixel weights make a region ignored or decisive."""

    def __init__(self, weight_map: torch.Tensor, embed_dim: int = 12) -> None:
        super().__init__()
        self.register_buffer("weight_map", weight_map)
        self.embedding = nn.Sequential(nn.Flatten(), nn.Linear(784, embed_dim), nn.Tanh())
        self.head = nn.Linear(embed_dim, 15)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x * self.weight_map)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def _batch(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(n, 1, 28, 28), torch.randint(0, 15, (n,))


def _all_maps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kind: str) -> dict:
    gen = torch.Generator().manual_seed(0)
    u_pert, s_pert = perturbation_maps(
        model, x, y, patch_masks(28, PATCH, "cpu"), kind, 0.5, gen, 64
    )
    return {
        "utility_gradient": patch_reduce(gradient_utility(model, x, y), PATCH, "sum"),
        "sensitivity_gradient": patch_reduce(exact_gradient_sensitivity(model, x), PATCH, "sum"),
        "sensitivity_randomized": patch_reduce(
            randomized_gradient_sensitivity(model, x, 8, gen, 64), PATCH, "sum"
        ),
        "utility_perturbation": u_pert,
        "sensitivity_perturbation": s_pert,
    }


def test_ignored_region_has_zero_utility_and_sensitivity() -> None:
    torch.manual_seed(0)
    keep = torch.ones(1, 1, 28, 28)
    keep[..., :PATCH, 28 - PATCH :] = 0.0  # the top-right patch (index 3) is never looked at
    x, y = _batch()
    for kind in ("gaussian", "replace"):
        maps = _all_maps(MaskedLinear(keep), x, y, kind)
        for name, values in maps.items():
            assert (values[:, 3].abs() < 1e-5).all(), name  # zero up to batched-float rounding
            assert (values.sum(1) > 1e-2).all(), name


def test_planted_region_ranks_first_in_both_forms() -> None:
    torch.manual_seed(0)
    weight_map = torch.full((1, 1, 28, 28), 0.01)
    weight_map[..., 14:21, 7:14] = 1.0  # patch 9 carries the signal
    model = MaskedLinear(weight_map)
    x, y = _batch()
    for name, values in _all_maps(model, x, y, "mask").items():
        assert (values.argmax(1) == PLANTED).all(), name


def test_randomized_sensitivity_matches_exact_jacobian_norms() -> None:
    """With n probes each pixel's squared estimate has relative std sqrt(2 / n).

    Each image is repeated 64 times with 64 probes per copy: 4096 probes, ~2.2% on s^2
    (~1.1% on s). We allow 6% per pixel and 2% on average (the pixels of one image share
    probes, so their errors are correlated and the average fluctuates more than 1.1%).
    """
    torch.manual_seed(0)
    model = CornerNet([3], embed_dim=6, num_classes=15).eval()
    x = torch.rand(2, 1, 28, 28)
    exact = exact_gradient_sensitivity(model, x)
    copies = randomized_gradient_sensitivity(
        model, x.repeat(64, 1, 1, 1), 64, torch.Generator().manual_seed(1), 128
    )
    estimate = copies.square().view(64, *x.shape).mean(0).sqrt()
    assert estimate.shape == exact.shape == (2, 1, 28, 28)
    nonzero = exact > 1e-6
    assert torch.equal(estimate > 1e-6, nonzero)  # dead pixels are exactly zero in both
    relative = (estimate[nonzero] - exact[nonzero]).abs() / exact[nonzero]
    assert relative.max() < 0.06 and relative.mean() < 0.02


def test_randomized_sensitivity_independent_of_chunking() -> None:
    torch.manual_seed(0)
    model = CornerNet([3], embed_dim=6, num_classes=15).eval()
    x = torch.rand(5, 1, 28, 28)
    runs = [
        randomized_gradient_sensitivity(model, x, 4, torch.Generator().manual_seed(2), size)
        for size in (4, 20)
    ]
    torch.testing.assert_close(runs[0], runs[1])
