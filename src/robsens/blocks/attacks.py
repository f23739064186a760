"""Projected gradient descent (PGD) attacks, shared by adversarial training and evaluation.

One implementation serves both so that the attack a model is trained against is exactly the
attack it is evaluated under. The model's train/eval mode is left as the caller set it, and
only the input gradient is taken (parameter gradients are never accumulated).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

NORMS = ("linf", "l2")


def _per_example_l2(t: torch.Tensor) -> torch.Tensor:
    """l_2 norm of each example, shaped to broadcast against ``t``."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def _random_start(x: torch.Tensor, norm: str, eps: float, gen: torch.Generator) -> torch.Tensor:
    """A perturbation drawn uniformly from the eps ball of ``norm``."""
    if norm == "linf":
        return (torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    direction = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    direction = direction / _per_example_l2(direction).clamp_min(1e-12)
    u = torch.rand((x.shape[0],), generator=gen, device=x.device, dtype=x.dtype)
    radius = eps * u.pow(1.0 / x[0].numel())  # uniform in volume, not concentrated at the centre
    return direction * radius.view(-1, *([1] * (x.dim() - 1)))


def _ascent_step(grad: torch.Tensor, norm: str, step_size: float) -> torch.Tensor:
    """Steepest-ascent step of length ``step_size`` in ``norm``."""
    if norm == "linf":
        return step_size * grad.sign()
    return step_size * grad / _per_example_l2(grad).clamp_min(1e-12)


def _project(delta: torch.Tensor, x: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """Project into the eps ball, then so that x + delta stays in [0, 1].

    Clipping to the box only shrinks each coordinate of delta toward 0, so the result stays
    inside the ball as well.
    """
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * (eps / _per_example_l2(delta).clamp_min(1e-12)).clamp(max=1.0)
    return (x + delta).clamp(0.0, 1.0) - x


def pgd_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    norm: str,
    eps: float,
    steps: int,
    step_size: float,
    random_start: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Maximise the cross-entropy of ``model`` within the ``norm`` ball of radius ``eps``.

    ``x`` is a batch in [0, 1]; ``generator`` (on ``x``'s device) drives the random start and
    may be None only when ``random_start`` is False. Returns the detached adversarial batch.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    x = x.detach()
    if random_start:
        if generator is None:
            raise ValueError("random_start needs an explicit generator")
        delta = _project(_random_start(x, norm, eps, generator), x, norm, eps)
    else:
        delta = torch.zeros_like(x)
    with torch.enable_grad():  # evaluation may call this under no_grad
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(model(x + delta), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            delta = _project(delta.detach() + _ascent_step(grad, norm, step_size), x, norm, eps)
    return (x + delta).detach()
