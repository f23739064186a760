"""The shared utility building blocks: input gradients, patches, FCL's H/L selection, maps."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from robsens.blocks.attribution import (
    gradient_utility,
    input_gradient,
    patch_masks,
    patch_reduce,
    patches_to_pixels,
    perturbation_maps,
    select_high_low,
    select_random,
)
from robsens.blocks.model import CornerNet
from robsens.blocks.perturb import perturb


@pytest.fixture()
def model() -> CornerNet:
    torch.manual_seed(0)
    return CornerNet([4, 8], embed_dim=16, num_classes=15).eval()


def test_input_gradient_reuses_the_training_graph(model: CornerNet) -> None:
    x = torch.rand(5, 1, 28, 28).requires_grad_(True)
    y = torch.randint(0, 15, (5,))
    loss = F.cross_entropy(model(x), y, reduction="sum")
    grad = input_gradient(loss, x)
    single = torch.autograd.grad(F.cross_entropy(model(x[2:3]), y[2:3]), x)[0][2]
    torch.testing.assert_close(grad[2], single)
    loss.backward()  # the graph is still there for the training step
    assert model.head.weight.grad is not None
    torch.testing.assert_close(gradient_utility(model, x, y), grad.abs())


def test_patch_reduce_and_inverse_layout() -> None:
    maps = torch.arange(2 * 28 * 28, dtype=torch.float32).view(2, 1, 28, 28)
    sums = patch_reduce(maps, 7, "sum")
    assert sums.shape == (2, 16)
    assert sums[1, 5] == maps[1, 0, 7:14, 7:14].sum()
    torch.testing.assert_close(patch_reduce(maps, 7, "mean"), sums / 49)
    masks = patch_masks(28, 7, "cpu")
    assert masks.shape == (16, 1, 28, 28) and masks.sum(0).eq(1).all()
    assert masks[5, 0, 7:14, 7:14].all()
    values = torch.arange(16.0).view(1, 16)
    torch.testing.assert_close(patch_reduce(patches_to_pixels(values, 7, 28), 7, "mean"), values)
    with pytest.raises(ValueError):
        patch_reduce(maps, 5, "sum")


def _low_end(utility: torch.Tensor, fraction: float) -> torch.Tensor:
    flat = utility.flatten(1)
    return flat <= flat.kthvalue(round(fraction * flat.shape[1]), dim=1, keepdim=True).values


def test_high_is_exactly_top_k_and_low_is_disjoint_low_end() -> None:
    utility = torch.rand(8, 49)
    high, low = select_high_low(utility, 5, torch.Generator().manual_seed(0), low_pool=0.5)
    assert high.shape == utility.shape and high.dtype == torch.bool
    assert (high.sum(1) == 5).all() and (low.sum(1) == 5).all()
    assert not (high & low).any()
    top = utility.topk(5, dim=1).indices
    assert torch.equal(high, torch.zeros_like(high).scatter_(1, top, True))
    assert not (low & ~_low_end(utility, 0.5)).any()


def test_low_is_random_and_reproducible() -> None:
    utility = torch.rand(4, 1, 28, 28)
    draw = [select_high_low(utility, 30, torch.Generator().manual_seed(s), 0.5) for s in (0, 0, 1)]
    assert draw[0][1].shape == utility.shape
    assert torch.equal(draw[0][1], draw[1][1]) and not torch.equal(draw[0][1], draw[2][1])


def test_random_high_keeps_low_end_and_ignores_utility() -> None:
    utility = torch.rand(64, 49)
    high, low = select_random(utility, 5, torch.Generator().manual_seed(0), low_pool=0.5)
    assert (high.sum(1) == 5).all() and (low.sum(1) == 5).all()
    assert not (high & low).any()
    assert not (low & ~_low_end(utility, 0.5)).any()
    top_high, _ = select_high_low(utility, 5, torch.Generator(), low_pool=0.5)
    assert (high & top_high).sum() < 0.3 * top_high.sum()  # ~10% overlap by chance


def test_selection_rejects_impossible_pools() -> None:
    with pytest.raises(ValueError):
        select_high_low(torch.rand(2, 49), 10, torch.Generator(), low_pool=0.1)
    with pytest.raises(ValueError):
        select_high_low(torch.rand(2, 49), 10, torch.Generator(), low_pool=0.9)


@pytest.mark.parametrize("kind", ["gaussian", "mask", "replace"])
def test_perturbation_maps_match_one_region_at_a_time(model: CornerNet, kind: str) -> None:
    x, y = torch.rand(3, 1, 28, 28), torch.randint(0, 15, (3,))
    regions = patch_masks(28, 14, "cpu")
    utility, sensitivity = perturbation_maps(
        model, x, y, regions, kind, 0.3, torch.Generator().manual_seed(2), chunk_size=5
    )
    assert utility.shape == sensitivity.shape == (3, 4)
    with torch.no_grad():
        g0, loss0 = model.embed(x), F.cross_entropy(model(x), y, reduction="none")
        for r in range(4):  # the same draw per image, one region at a time
            xr = perturb(x, regions[r], kind, 0.3, torch.Generator().manual_seed(2))
            gr = model.embed(xr)
            loss_r = F.cross_entropy(model.head(gr), y, reduction="none")
            torch.testing.assert_close(utility[:, r], (loss_r - loss0).abs())
            torch.testing.assert_close(sensitivity[:, r], (gr - g0).norm(dim=1) / g0.norm(dim=1))
