"""FCL: gradient reaches the weights through the contrastive term and never the selection;
FCL-random differs from FCL in the selection and nothing else."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import yaml

from robsens.blocks.attribution import select_high_low, select_random
from robsens.blocks.model import build_model
from robsens.core.config import NUM_CLASSES
from robsens.methods import build_method
from robsens.methods.fcl import FCL, info_nce
from robsens.methods.fcl_random import FCLRandom
from robsens.pipeline.stages import BY_NAME

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


def test_single_negative_is_the_papers_formula() -> None:
    """batch_negatives false: -log(e^{z.z+/t} / (e^{z.z+/t} + e^{z.z-/t})), by hand."""
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z_pos = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # unit: (0.6, 0.8), (0, 1)
    z_neg = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    tau = 0.5
    # example 0: z.z+ = 0.6, z.z- = 0; example 1: z.z+ = 1, z.z- = 0
    by_hand = [-math.log(math.exp(p / tau) / (math.exp(p / tau) + math.exp(n / tau)))
               for p, n in ((0.6, 0.0), (1.0, 0.0))]
    got = info_nce(z, z_pos, z_neg, tau, batch_negatives=False)
    assert got.item() == pytest.approx(sum(by_hand) / 2, rel=1e-6)
    # batch negatives add the other example's positive view: example 0 also sees (0, 1)
    # (z.z = 0), example 1 also sees (0.6, 0.8) (z.z = 0.8)
    with_batch = [-math.log(math.exp(p / tau) / sum(math.exp(v / tau) for v in (p, n, o)))
                  for p, n, o in ((0.6, 0.0, 0.0), (1.0, 0.0, 0.8))]
    got = info_nce(z, z_pos, z_neg, tau, batch_negatives=True)
    assert got.item() == pytest.approx(sum(with_batch) / 2, rel=1e-6)


def test_projection_dim_zero_contrasts_the_embeddings(batch) -> None:
    hp = {**PARAMS["models"]["fcl"], "projection_dim": 0}
    method = FCL(build_model(PARAMS["model"], NUM_CLASSES), hp)
    assert method.projection is None and method.extra_modules() is None
    with_head = FCL(build_model(PARAMS["model"], NUM_CLASSES), {**hp, "projection_dim": 8})
    assert with_head.extra_modules()[-1].out_features == 8
    loss, stats = method.loss(*batch, hp["warmup_epochs"], torch.Generator().manual_seed(0))
    assert math.isfinite(loss.item()) and stats["fcl"] > 0


@pytest.mark.parametrize(("value", "kind"), [("sensitivity", "perturbation"),
                                             ("sensitivity_corner", "corner_perturbation")])
def test_views_can_perturb_as_the_evaluation(value: str, kind: str) -> None:
    params = copy.deepcopy(PARAMS)
    params["sensitivity"] |= {"perturbation": "replace", "corner_perturbation": "mask",
                              "strength": 0.3, "patch": 7}
    params["models"]["fcl"] |= {"perturbation": value, "strength": 0.9, "patch": "sensitivity"}
    model = build_model(params["model"], NUM_CLASSES)
    method = build_method(model, params, "fcl")
    assert isinstance(method, FCL)
    assert method.hparams["perturbation"] == params["sensitivity"][kind]
    assert method.hparams["strength"] == 0.3 and method.hparams["patch"] == 7
    random = build_method(model, params | {"models": {"r": {**params["models"]["fcl"],
                                                             "method": "fcl_random"}}}, "r")
    assert {**random.hparams, "method": "fcl"} == method.hparams  # the ablation resolves alike
    # the train stage reruns (and its run key changes) when a linked key changes
    train = BY_NAME["train"].params_values(params, {"model": "fcl", "seed": 0})
    assert {"sensitivity.perturbation", "sensitivity.corner_perturbation",
            "sensitivity.strength", "sensitivity.patch"} <= set(train)


def test_explicit_perturbations_are_unchanged_by_resolution() -> None:
    params = copy.deepcopy(PARAMS)
    params["models"]["fcl"] |= {"perturbation": "mask", "patch": 2}
    assert FCL.resolve(params["models"]["fcl"], params) == params["models"]["fcl"]
