"""Reference implementations the tests check the package against (too slow for real use)."""

from __future__ import annotations

import torch
from torch import nn


def exact_gradient_sensitivity(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """s_i = ||dg(x)/dx_i||_2 from the full Jacobian of g, (B, 1, H, W); for small cases."""

    def embed_one(xi: torch.Tensor) -> torch.Tensor:
        return model.embed(xi[None])[0]

    with torch.enable_grad():
        jac = torch.func.vmap(torch.func.jacrev(embed_one))(x.detach())  # (B, D, 1, H, W)
    return jac.norm(dim=1).detach()
