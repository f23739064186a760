"""FCL: gradient reaches the weights through the contrastive term and never the selection;
FCL-random differs from FCL in the selection and nothing else, the oracle control in H where
the corner decides the label; the engagement record and the masking utility, by hand."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import yaml
from torch import nn

from robsens.blocks.attribution import (
    masking_utility,
    patch_masks,
    perturbation_maps,
    select_high_low,
    select_random,
)
from robsens.blocks.model import build_model
from robsens.core.domain import NUM_CLASSES
from robsens.methods import build_method
from robsens.methods.fcl import FCL, info_nce, info_nce_chance
from robsens.methods.fcl_oracle import FCLOracle
from robsens.methods.fcl_random import FCLRandom
from robsens.pipeline.fingerprints import fingerprint
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


@pytest.mark.parametrize("utility", ["gradient", "masking"])
def test_views_carry_no_gradient_to_the_selection(batch, utility: str) -> None:
    x, y = batch
    model = build_model(PARAMS["model"], NUM_CLASSES)
    method = FCL(model, {**PARAMS["models"]["fcl"], "utility": utility, "chunk_size": 250})
    x = x.clone().requires_grad_(True)
    ce_sum = torch.nn.functional.cross_entropy(model(x), y, reduction="sum")
    scores = method.utility(x, y, ce_sum)
    assert scores.shape == (16, 196) and not scores.requires_grad
    sets = method.feature_sets(scores, y, torch.Generator().manual_seed(0))
    x_pos, x_neg = method.views(x, *sets, torch.Generator().manual_seed(0))
    assert not x_pos.requires_grad and not x_neg.requires_grad  # x's graph is cut off


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
    # the training fingerprint holds the resolved values: the train job reruns (and its run
    # key changes) when a linked key changes, and only for a model that links it
    held = fingerprint(BY_NAME["train"], params, "fcl")["params"]["hparams"]
    assert (held["perturbation"], held["strength"], held["patch"]) == (
        params["sensitivity"][kind], 0.3, 7)


def test_explicit_perturbations_are_unchanged_by_resolution() -> None:
    params = copy.deepcopy(PARAMS)
    params["models"]["fcl"] |= {"perturbation": "mask", "patch": 2}
    assert FCL.resolve(params["models"]["fcl"], params) == {
        **params["models"]["fcl"], "chunk_size": params["evaluate"]["batch_size"]}


def test_chance_is_the_term_with_every_similarity_equal() -> None:
    """ln(1 + N): N = 1 for the single negative, 1 + (B - 1) with the batch's negatives."""
    assert info_nce_chance(8, batch_negatives=False) == pytest.approx(math.log(2))
    assert info_nce_chance(8, batch_negatives=True) == pytest.approx(math.log(9))
    same = torch.ones(8, 4)  # every view embedded alike: the term cannot tell them apart
    for negatives in (False, True):
        term = info_nce(same, same, same, 0.5, batch_negatives=negatives)
        assert term.item() == pytest.approx(info_nce_chance(8, negatives), rel=1e-6)


@pytest.mark.parametrize("negatives", [False, True])
def test_steps_log_the_chance_value_and_whether_the_term_is_active(batch, negatives) -> None:
    hp = {**PARAMS["models"]["fcl"], "batch_negatives": negatives, "warmup_epochs": 1}
    method = FCL(build_model(PARAMS["model"], NUM_CLASSES), hp)
    chance = info_nce_chance(16, negatives)
    _, warm = method.loss(*batch, 0, torch.Generator().manual_seed(0))
    _, past = method.loss(*batch, 1, torch.Generator().manual_seed(0))
    assert warm == {"ce": warm["ce"], "fcl": 0.0, "fcl_chance": chance, "fcl_active": 0.0}
    assert past["fcl_chance"] == chance and past["fcl_active"] == 1.0 and past["fcl"] > 0


@pytest.mark.parametrize("projection_dim", [0, 8])
def test_diagnostics_leave_weights_grads_and_modes_as_found(batch, projection_dim) -> None:
    hp = {**PARAMS["models"]["fcl"], "projection_dim": projection_dim}
    torch.manual_seed(0)
    method = FCL(build_model(PARAMS["model"], NUM_CLASSES), hp)
    parts = [method.model] + ([method.projection] if projection_dim else [])
    weights = [w for part in parts for w in part.parameters()]
    before = [w.detach().clone() for w in weights]
    weights[0].grad = torch.full_like(weights[0], 3.0)  # a gradient already accumulated
    method.model.eval()
    warm = method.diagnostics(*batch, hp["warmup_epochs"] - 1, torch.Generator().manual_seed(0))
    record = method.diagnostics(*batch, hp["warmup_epochs"], torch.Generator().manual_seed(0))
    assert all(torch.equal(w, b) for w, b in zip(weights, before, strict=True))
    assert torch.equal(weights[0].grad, torch.full_like(weights[0], 3.0))
    assert all(w.grad is None for w in weights[1:])
    assert not any(m.training for m in method.model.modules())
    assert all(m.training for part in parts[1:] for m in part.modules())
    chance = info_nce_chance(16, hp["batch_negatives"])
    assert warm == {"fcl": 0.0, "fcl_chance": chance, "fcl_grad_share": 0.0, "fcl_active": 0.0}
    assert set(record) == set(warm) and record["fcl_active"] == 1.0
    assert record["fcl"] > 0 and record["fcl_chance"] == chance and record["fcl_grad_share"] > 0


def test_grad_share_is_the_ratio_of_the_two_gradients(batch) -> None:
    """The share scales with lam, and by hand: ||d(lam L)/dw|| / ||dCE/dw|| from .backward."""
    hp = PARAMS["models"]["fcl"]
    torch.manual_seed(0)
    model = build_model(PARAMS["model"], NUM_CLASSES)
    method = FCL(model, hp)
    share = method.diagnostics(*batch, hp["warmup_epochs"], torch.Generator().manual_seed(0))
    doubled = FCL(model, {**hp, "lam": 2 * hp["lam"]}).diagnostics(
        *batch, hp["warmup_epochs"], torch.Generator().manual_seed(0))
    assert doubled["fcl_grad_share"] == pytest.approx(2 * share["fcl_grad_share"], rel=1e-5)
    norms = []
    for term in (0, 1):
        model.zero_grad()
        parts = method.terms(*batch, torch.Generator().manual_seed(0))
        (parts[term] * (hp["lam"] if term else 1.0)).backward()
        norms.append(math.sqrt(sum(float(w.grad.square().sum()) for w in model.parameters()
                                   if w.grad is not None)))  # L_FCL does not reach the head
    assert share["fcl_grad_share"] == pytest.approx(norms[1] / norms[0], rel=1e-5)


def test_masking_utility_by_hand_on_a_linear_model() -> None:
    """Two classes, logits W x on a 4x4 image of four 2x2 patches: with y = 0 the loss is
    softplus(d), d = (w1 - w0).x, and zeroing patch R lowers d by (w1 - w0)_R . x_R."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2, bias=False))
    x = torch.rand(1, 1, 4, 4)
    x[..., 2:, :2] = 0.0  # patch 2 (bottom left) blank: masking it changes nothing
    w = (model[1].weight[1] - model[1].weight[0]).detach().view(4, 4)
    d = float((w * x[0, 0]).sum())
    expected = []
    for rows, cols in ((slice(0, 2), slice(0, 2)), (slice(0, 2), slice(2, 4)),
                       (slice(2, 4), slice(0, 2)), (slice(2, 4), slice(2, 4))):
        d_r = d - float((w[rows, cols] * x[0, 0, rows, cols]).sum())
        expected.append(abs(math.log1p(math.exp(d_r)) - math.log1p(math.exp(d))))
    got = masking_utility(model, x, torch.tensor([0]), patch=2, chunk_size=2)
    assert got.shape == (1, 4) and got[0, 2] == 0.0
    assert got[0].tolist() == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_masking_utility_is_the_all_patches_perturbation_map(batch) -> None:
    """Skipping blank patches and chunking change nothing: it equals perturbation_maps' U with
    every patch masked, for any chunk size."""
    x, y = batch
    model = build_model(PARAMS["model"], NUM_CLASSES).eval()
    reference, _ = perturbation_maps(model, x, y, patch_masks(28, 4, "cpu"), "mask", 0.0,
                                     torch.Generator(), 250)
    for chunk in (7, 1000):
        got = masking_utility(model, x, y, patch=4, chunk_size=chunk)
        torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-6)


def test_masking_selection_is_deterministic_given_the_generator(batch) -> None:
    params = copy.deepcopy(PARAMS)
    params["models"]["fcl"]["utility"] = "masking"
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        method = build_method(build_model(params["model"], NUM_CLASSES), params, "fcl")
        loss, _ = method.loss(*batch, 1, torch.Generator().manual_seed(5))
        losses.append(loss.item())
    assert losses[0] == losses[1]


def oracle_params(patch: int) -> dict:
    params = copy.deepcopy(PARAMS)
    params["data"] |= {"corner_size": 10, "corner_position": "top_right"}
    params["models"] = {"oracle": {**params["models"]["fcl"], "method": "fcl_oracle",
                                   "patch": patch}}
    return params


@pytest.mark.parametrize(("patch", "rows", "cols"), [(2, range(0, 5), range(9, 14)),
                                                      (4, range(0, 3), range(4, 7))])
def test_oracle_h_is_the_corner_where_it_decides_the_label(patch, rows, cols) -> None:
    """Label 10 (centre 0 with a corner digit): H = every patch touching the 10 px top-right
    square (25 > k = 20 at 2 px; 9 at 4 px, where patches 16-19 px touch it), L outside it.
    Label 5 (the corner does not decide): FCL's H, the top-k utility patches, and FCL's L."""
    params = oracle_params(patch)
    model = build_model(params["model"], NUM_CLASSES)
    oracle = build_method(model, params, "oracle")
    assert isinstance(oracle, FCLOracle) and FCLOracle.ROLE == "positive_control"
    assert oracle.hparams["corner_size"] == 10
    assert oracle.hparams["corner_position"] == "top_right"
    side = 28 // patch
    corner = torch.zeros(side, side, dtype=torch.bool)
    corner[rows.start : rows.stop, cols.start : cols.stop] = True
    utility = torch.rand(2, side * side, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([10, 5])
    high, low = oracle.feature_sets(utility, y, torch.Generator().manual_seed(1))
    k = oracle.size(side * side)
    assert torch.equal(high[0], corner.flatten())
    assert not (low[0] & high[0]).any() and int(low[0].sum()) == k
    top = torch.zeros(side * side, dtype=torch.bool)
    top[utility[1].topk(k).indices] = True
    assert torch.equal(high[1], top)
    fcl = FCL(model, oracle.hparams)  # the same draws: FCL's sets where the corner is silent
    fcl_high, fcl_low = fcl.feature_sets(utility, y, torch.Generator().manual_seed(1))
    assert torch.equal(high[1], fcl_high[1]) and torch.equal(low[1], fcl_low[1])


def test_oracle_differs_from_fcl_only_in_h() -> None:
    own = set(vars(FCLOracle)) - {"__module__", "__doc__", "__qualname__", "__firstlineno__",
                                  "__static_attributes__"}
    assert own == {"ROLE", "__init__", "resolve", "feature_sets"}
    assert FCLOracle.select is FCL.select
