"""Reference implementations the tests check the package against (too slow for real use)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def exact_gradient_sensitivity(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """s_i = ||dg(x)/dx_i||_2 from the full Jacobian of g, (B, 1, H, W); for small cases."""

    def embed_one(xi: torch.Tensor) -> torch.Tensor:
        return model.embed(xi[None])[0]

    with torch.enable_grad():
        jac = torch.func.vmap(torch.func.jacrev(embed_one))(x.detach())  # (B, D, 1, H, W)
    return jac.norm(dim=1).detach()


def naive_maps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, regions: torch.Tensor, values: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Reference maps with Python loops over images, embedding dimensions and patches."""
    n, n_regions = x.shape[0], regions.shape[0]
    utility_px, sensitivity_px = torch.zeros_like(x), torch.zeros_like(x)
    utility, sensitivity = torch.zeros(n, n_regions), torch.zeros(n, n_regions)
    for i in range(n):
        xi = x[i : i + 1].clone().requires_grad_(True)
        g = model.embed(xi)
        loss = F.cross_entropy(model.head(g), y[i : i + 1])
        utility_px[i] = torch.autograd.grad(loss, xi, retain_graph=True)[0].abs()[0]
        rows = [torch.autograd.grad(g[0, d], xi, retain_graph=True)[0] for d in range(g.shape[1])]
        sensitivity_px[i] = torch.cat(rows).norm(dim=0)
        with torch.no_grad():
            for r in range(n_regions):
                xr = torch.where(regions[r], values[i : i + 1], xi)
                gr = model.embed(xr)
                loss_r = F.cross_entropy(model.head(gr), y[i : i + 1])
                utility[i, r] = (loss_r - loss).abs()
                sensitivity[i, r] = (gr - g).norm() / g.norm()
    return {
        "utility_px": utility_px,
        "sensitivity_px": sensitivity_px,
        "utility_perturbation": utility,
        "sensitivity_perturbation": sensitivity,
    }
