"""FCL: gradient reaches the weights through the contrastive term and never the selection;
FCL-random differs from FCL in the selection and nothing else."""

from __future__ import annotations

import pytest
import torch
import yaml

from robsens.blocks.attribution import select_high_low, select_random
from robsens.blocks.model import build_model
from robsens.core.config import NUM_CLASSES
from robsens.methods.fcl import FCL
from robsens.methods.fcl_random import FCLRandom

from .conftest import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 28, 28, generator=g) * (torch.rand(16, 1, 28, 28, generator=g) > 0.6)
    return x, torch.arange(16) % NUM_CLASSES


def weight_grads(method_cls, hp: dict, x, y, seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model(PARAMS["model"], NUM_CLASSES)
    method = method_cls(model, hp)
    loss, _ = method.loss(x, y, hp["warmup_epochs"], torch.Generator().manual_seed(seed))
    loss.backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def test_contrastive_term_sends_gradient_to_the_weights(batch) -> None:
    hp = PARAMS["models"]["fcl"]
    with_term = weight_grads(FCL, hp, *batch)
    without = weight_grads(FCL, {**hp, "lam": 0.0}, *batch)
    changed = [k for k in with_term if not torch.allclose(with_term[k], without[k])]
    assert "features.0.weight" in changed and "embedding.0.weight" in changed


def test_views_carry_no_gradient_to_the_selection(batch) -> None:
    x, y = batch
    model = build_model(PARAMS["model"], NUM_CLASSES)
    method = FCL(model, PARAMS["models"]["fcl"])
    x = x.clone().requires_grad_(True)
    grad = torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y, reduction="sum"),
                               x, create_graph=True)[0]  # even a differentiable utility...
    x_pos, x_neg = method.views(x, grad, torch.Generator().manual_seed(0))
    assert not x_pos.requires_grad and not x_neg.requires_grad  # ...is cut off from the views


def test_fcl_random_differs_only_in_the_selection(batch) -> None:
    own = set(vars(FCLRandom)) - {"__module__", "__doc__", "__qualname__", "__firstlineno__",
                                  "__static_attributes__"}
    assert own == {"select", "ROLE"} and FCLRandom.ROLE == "ablation" and FCL.ROLE == "fcl"
    assert FCL.select is select_high_low and FCLRandom.select is select_random
    # with the selection made equal, the two produce identical gradients from the same seed
    hp = PARAMS["models"]["fcl"]
    same = type("SameSelection", (FCLRandom,), {"select": staticmethod(select_high_low)})
    reference, ablation = weight_grads(FCL, hp, *batch), weight_grads(same, hp, *batch)
    assert all(torch.equal(reference[k], ablation[k]) for k in reference)
    random_grads = weight_grads(FCLRandom, hp, *batch)
    assert not all(torch.equal(reference[k], random_grads[k]) for k in reference)
