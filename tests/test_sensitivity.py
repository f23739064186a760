"""Per-model contextual evaluation: alignment, corner scores by context, flips, determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import rankdata, spearmanr
from torch import nn

from robsens.bench.maps import run_benchmark
from robsens.blocks.attribution import (
    gradient_utility,
    patch_masks,
    perturbation_maps,
)
from robsens.blocks.model import CornerNet
from robsens.blocks.perturb import perturbed_values
from robsens.blocks.predict import predict
from robsens.blocks.regions import region_masks
from robsens.core.config import ParamsError
from robsens.pipeline.params import load_params, validate_params
from robsens.sensitivity.maps import (
    MapSettings,
    Plan,
    average_ranks,
    corner_scores,
    evaluate,
    rank_alignment,
)

from .conftest import ROOT
from .reference import exact_gradient_sensitivity, naive_maps

SETTINGS = MapSettings(
    patch=7, reduce="sum", perturbation="mask", strength=0.0, n_probes=4, chunk_size=64
)
PLAN = Plan(
    SETTINGS, replace(SETTINGS, perturbation="replace"), n_test=20, n_probe=24, n_examples=4,
    n_align=16,
)
_, CORNER = region_masks(10, "top_right")


def _splits(n: int = 24) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(0)
    centre = torch.arange(n) % 10
    corner = torch.arange(n) % 3 == 0
    x = torch.rand(n, 1, 28, 28, generator=g) * ~CORNER
    x_corner = torch.where(CORNER, torch.rand(n, 1, 28, 28, generator=g), x)
    y_corner = torch.where(centre < 5, centre + 10, centre)
    test = {
        "x": torch.where(corner.view(-1, 1, 1, 1), x_corner, x),
        "centre": centre,
        "corner": corner,
        "y": torch.where(corner, y_corner, centre),
    }
    probe = {
        "x_plain": x,
        "x_corner": x_corner,
        "centre": centre,
        "y_plain": centre,
        "y_corner": y_corner,
    }
    return test, probe


class CornerBlind(nn.Module):
    """An embedding that never looks at the corner square."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.Tanh())
        self.head = nn.Linear(8, 15)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x * ~CORNER)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def test_rank_alignment_is_spearman_per_image() -> None:
    utility = torch.rand(5, 16)
    sensitivity = utility + 0.3 * torch.rand(5, 16)
    sensitivity[1, :4] = sensitivity[1, 4]  # ties get average ranks
    expected = [spearmanr(u, s).statistic for u, s in zip(utility, sensitivity, strict=True)]
    np.testing.assert_allclose(rank_alignment(utility, sensitivity), expected)
    constant = rank_alignment(torch.ones(1, 16), torch.rand(1, 16))
    assert np.isnan(constant).all()


def test_average_ranks_are_scipys_rankdata_exactly() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, size=(40, 16)).astype(np.float64)  # many ties
    values[3] = 2.0  # one run across the whole row
    values[5, 7] = np.nan
    np.testing.assert_array_equal(average_ranks(values), rankdata(values, axis=1))
    smooth = rng.normal(size=(8, 49))
    np.testing.assert_array_equal(average_ranks(smooth), rankdata(smooth, axis=1))


def test_corner_blind_model_has_no_corner_sensitivity_and_never_flips() -> None:
    torch.manual_seed(0)
    model, (_, probe) = CornerBlind(), _splits()
    scores = corner_scores(
        model, probe["x_corner"], probe["y_corner"], CORNER, SETTINGS, torch.Generator()
    )
    for name, values in scores.items():
        assert values.abs().max() < 1e-5, name
    flips = predict(model, probe["x_plain"], 7) != predict(model, probe["x_corner"], 7)
    assert not flips.any()


def test_evaluate_reports_every_summary_and_is_deterministic() -> None:
    torch.manual_seed(0)
    model = CornerNet([4, 8], embed_dim=16, num_classes=15).eval()
    test, probe = _splits()
    runs = [
        evaluate(model, test, probe, CORNER, PLAN, torch.Generator().manual_seed(5))
        for _ in range(2)
    ]
    metrics, arrays = runs[0]
    assert metrics == runs[1][0]
    per_image = metrics.pop("per_image")
    forms, changes = ("gradient", "perturbation"), ("removal", "perturbation")
    expected = {f"alignment_{f}" for f in forms}
    expected |= {f"context_selectivity_{f}" for f in forms}
    expected |= {f"output_{kind}_{change}" for kind in ("selectivity", "margin_selectivity")
                 for change in changes}
    outcomes = set()
    for ctx in ("centre_0_4", "centre_5_9"):
        expected |= {
            f"corner_{kind}_{form}_{ctx}"
            for kind in ("utility", "sensitivity")
            for form in forms
        }
        expected |= {f"alignment_with_corner_{form}_{ctx}" for form in forms}
        outcomes |= {f"output_{kind}_{change}_{ctx}" for kind in ("divergence", "margin_change")
                     for change in changes}
    assert set(metrics) == expected | outcomes
    assert set(per_image) == outcomes
    for key in outcomes:  # the per-image outcomes are what the context means average
        assert np.mean(per_image[key]) == pytest.approx(metrics[key]), key
    assert all(np.isfinite(v) for v in metrics.values())
    assert len(arrays["alignment_with_corner_gradient"]) == 16
    assert arrays["output_divergence_removal"].shape == (24,)
    assert arrays["utility_perturbation"].shape == (20, 16)
    assert arrays["example_x"].shape == (4, 1, 28, 28)
    assert arrays["example_utility_gradient_pixels"].shape == (4, 1, 28, 28)
    centres = test["centre"][arrays["example_index"]]
    assert (centres[:2] < 5).all() and (centres[2:] >= 5).all()
    assert test["corner"][arrays["example_index"]].all()
    for key, value in arrays.items():
        np.testing.assert_array_equal(value, runs[1][1][key], err_msg=key)


def test_corner_gradient_scores_aggregate_like_patches() -> None:
    torch.manual_seed(0)
    model = CornerNet([4], embed_dim=8, num_classes=15).eval()
    _, probe = _splits(6)
    summed, averaged = (
        corner_scores(
            model,
            probe["x_corner"],
            probe["y_corner"],
            CORNER,
            MapSettings(7, reduce, "gaussian", 0.3, 4, 64),
            torch.Generator().manual_seed(0),
        )
        for reduce in ("sum", "mean")
    )
    for key, values in summed.items():
        assert (values > 0).all(), key
        scale = CORNER.sum() if "gradient" in key else 1
        torch.testing.assert_close(values, averaged[key] * scale, msg=key)


def test_plan_from_params_gives_the_corner_its_own_perturbation() -> None:
    cfg = load_params(ROOT / "params.yaml")["sensitivity"]
    plan = Plan.from_params(cfg)
    assert plan.maps.perturbation == cfg["perturbation"]
    assert plan.corner == replace(plan.maps, perturbation=cfg["corner_perturbation"])
    assert (plan.n_test, plan.n_probe, plan.n_examples, plan.n_align) == (
        cfg["n_test"],
        cfg["n_probe"],
        cfg["n_examples"],
        cfg["n_align"],
    )


def test_alignment_images_beyond_the_probe_images_are_refused_before_any_job() -> None:
    params = load_params(ROOT / "params.yaml")
    params["sensitivity"]["n_align"] = params["sensitivity"]["n_probe"] + 1
    with pytest.raises(ParamsError, match=r"'sensitivity\.n_align': \d+ exceeds sensitivity"
                                          r"\.n_probe"):
        validate_params(params)


def test_batched_maps_match_a_naive_loop() -> None:
    torch.manual_seed(0)
    model = CornerNet([4], embed_dim=8, num_classes=15).eval()
    x, y = torch.rand(3, 1, 28, 28), torch.randint(0, 15, (3,))
    regions = patch_masks(28, 14, "cpu")
    values = perturbed_values(x, "gaussian", 0.4, torch.Generator().manual_seed(1))
    naive = naive_maps(model, x, y, regions, values)
    utility, sensitivity = perturbation_maps(
        model, x, y, regions, "gaussian", 0.4, torch.Generator().manual_seed(1), 64
    )
    torch.testing.assert_close(naive["utility_perturbation"], utility)
    torch.testing.assert_close(naive["sensitivity_perturbation"], sensitivity)
    torch.testing.assert_close(naive["utility_px"], gradient_utility(model, x, y))
    torch.testing.assert_close(naive["sensitivity_px"], exact_gradient_sensitivity(model, x))

def test_maps_benchmark_floor_counts_every_pass() -> None:
    model = CornerNet([4], embed_dim=8, num_classes=15).eval()
    s = MapSettings(14, "sum", "mask", 0.0, 2, 64)
    t = run_benchmark(model, 6, s, seed=0, rounds=1)
    backward = t["pair"] - t["graph_forward"]
    assert t["n_patches"] == 4
    assert t["floor"] == t["pair"] + t["graph_forward"] + 2 * backward + 5 * t["forward"]
    assert t["maps"] > 0 and t["output"] > 0
