"""Perturbations touch only the mask, stay in [0, 1] and are reproducible for a seed."""

from __future__ import annotations

import pytest
import torch

from robsens.blocks.perturb import KINDS, donor_permutation, perturb


@pytest.fixture()
def images() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.rand(6, 1, 28, 28) * 0.8 + 0.1  # no zeros, so masking is visible everywhere
    mask = torch.rand(6, 1, 28, 28) > 0.7
    return x, mask


@pytest.mark.parametrize("kind", KINDS)
def test_touches_only_the_mask(images, kind: str) -> None:
    x, mask = images
    out = perturb(x, mask, kind, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(out[~mask], x[~mask])
    assert (out[mask] != x[mask]).float().mean() > 0.9
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_reproducible_for_a_seed(images, kind: str) -> None:
    x, mask = images
    first = perturb(x, mask, kind, 0.5, torch.Generator().manual_seed(4))
    assert torch.equal(first, perturb(x, mask, kind, 0.5, torch.Generator().manual_seed(4)))


def test_mask_sets_zero_and_broadcasts(images) -> None:
    x, _ = images
    region = torch.zeros(28, 28, dtype=torch.bool)
    region[:5, :5] = True
    out = perturb(x, region, "mask", 0.0, torch.Generator())
    assert (out[:, :, :5, :5] == 0).all()
    assert torch.equal(out[:, :, 5:], x[:, :, 5:])


def test_replace_takes_another_image(images) -> None:
    x, mask = images
    donors = donor_permutation(6, torch.Generator().manual_seed(1), x.device)
    assert sorted(donors.tolist()) == list(range(6))
    assert (donors != torch.arange(6)).all()
    out = perturb(x, mask, "replace", 0.0, torch.Generator().manual_seed(1))
    assert torch.equal(out[mask], x[donors][mask])


def test_unknown_kind(images) -> None:
    x, mask = images
    with pytest.raises(ValueError):
        perturb(x, mask, "blur", 1.0, torch.Generator())
