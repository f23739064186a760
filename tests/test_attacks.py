"""PGD stays in the eps ball and in [0, 1], beats random noise, and leaves the model alone."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from robsens.blocks.attacks import pgd_attack
from robsens.blocks.model import CornerNet

SETTINGS = {"linf": (0.1, 0.025), "l2": (1.5, 0.4)}  # norm: (eps, step_size)


@pytest.fixture()
def batch() -> tuple[CornerNet, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = CornerNet([4, 8], embed_dim=16, num_classes=15).eval()
    x = torch.rand(16, 1, 28, 28) * (torch.rand(16, 1, 28, 28) > 0.6)
    return model, x, torch.randint(0, 15, (16,))


def _attack(model, x, y, norm: str, seed: int = 0) -> torch.Tensor:
    eps, step = SETTINGS[norm]
    gen = torch.Generator().manual_seed(seed)
    return pgd_attack(model, x, y, norm, eps, 10, step, random_start=True, generator=gen)


def _norms(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(dim=1)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_stays_in_ball_and_box(batch, norm: str) -> None:
    model, x, y = batch
    adv = _attack(model, x, y, norm)
    assert not adv.requires_grad
    assert adv.min() >= 0.0 and adv.max() <= 1.0
    assert (_norms(adv - x, norm) <= SETTINGS[norm][0] + 1e-5).all()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_beats_random_noise_of_same_norm(batch, norm: str) -> None:
    model, x, y = batch
    adv = _attack(model, x, y, norm)
    delta = adv - x
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    noise = noise.sign() if norm == "linf" else noise
    noise = noise * (_norms(delta, norm) / _norms(noise, norm)).view(-1, 1, 1, 1)
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y)
        attacked = F.cross_entropy(model(adv), y)
        noisy = F.cross_entropy(model((x + noise).clamp(0, 1)), y)
    assert attacked > noisy and attacked > clean


def test_deterministic_and_leaves_model_untouched(batch) -> None:
    model, x, y = batch
    model.train()
    with torch.no_grad():  # evaluation calls it like this
        first = _attack(model, x, y, "linf", seed=3)
    assert torch.equal(first, _attack(model, x, y, "linf", seed=3))
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_needs_generator_for_random_start(batch) -> None:
    model, x, y = batch
    with pytest.raises(ValueError):
        pgd_attack(model, x, y, "l2", 1.0, 1, 0.5, random_start=True, generator=None)
    with pytest.raises(ValueError):
        pgd_attack(model, x, y, "l1", 1.0, 1, 0.5, random_start=False, generator=None)
