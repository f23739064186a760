"""Output-level contextual sensitivity: the prediction's move with the corner digit, by context.

The head can apply the context by itself: a model whose embedding carries the corner under
every centre but whose head reads it only under centres 0-4 is output-selective while its
embedding is not. The per-image outcomes (probe flips, output divergences) feed the claims'
per-image paired test.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.spatial.distance import jensenshannon
from torch import nn

from robsens.blocks.model import CornerNet
from robsens.blocks.regions import region_masks
from robsens.clean.metrics import evaluate_clean
from robsens.core.io import save_json
from robsens.pipeline import paths
from robsens.report.claims import decide_claim
from robsens.report.per_seed import per_seed_table
from robsens.sensitivity.maps import (
    DIVERGENCE_FLOOR,
    MapSettings,
    Plan,
    evaluate,
    js_divergence,
    label_margin,
    log_selectivity,
)

from .conftest import ROOT

_, CORNER = region_masks(10, "top_right")
CODE_ROW, CODE_COLUMNS = 14, torch.arange(10) * 2 + 4  # one pixel per centre class, off-corner
SETTINGS = MapSettings(patch=7, reduce="sum", perturbation="gaussian", strength=0.3, n_probes=2,
                       chunk_size=256)
N_PROBE = 200
PLAN = Plan(SETTINGS, replace(SETTINGS, perturbation="mask"), n_test=20, n_probe=N_PROBE,
            n_examples=2, n_align=40)


def coded_splits(n: int = N_PROBE, seed: int = 0) -> tuple[dict, dict]:
    """Images whose centre class is one lit pixel (CODE_COLUMNS) and whose corner digit is
    noise of a brightness that cycles every 10 images, so both contexts see the same
    brightnesses (from 0.2 to 1)."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.arange(n) % 10
    x = torch.zeros(n, 1, 28, 28)
    x[torch.arange(n), 0, CODE_ROW, CODE_COLUMNS[centre]] = 1.0
    brightness = 0.2 + 0.8 * ((torch.arange(n) // 10) % 10) / 9
    noise = torch.rand(n, 1, 28, 28, generator=g) * brightness.view(-1, 1, 1, 1)
    x_corner = torch.where(CORNER, noise, x)
    y_corner = torch.where(centre < 5, centre + 10, centre)
    has = torch.arange(n) % 3 == 0
    test = {"x": torch.where(has.view(-1, 1, 1, 1), x_corner, x), "centre": centre,
            "corner": has, "y": torch.where(has, y_corner, centre)}
    probe = {"x_plain": x, "x_corner": x_corner, "centre": centre, "y_plain": centre,
             "y_corner": y_corner}
    return test, probe


class ContextHead(nn.Module):
    """Logits from g = [centre one-hot (10), corner brightness a]: class c scores 5, class
    c + 10 (centres 0-4) scores 5 + 20 a - 1, so the corner decides the label there; under
    centres 5-9 the corner is ignored unless ``leak`` > 0, which adds ``leak`` x a to class
    c - 5 (a wrong flip once a > 5 / leak)."""

    def __init__(self, leak: float) -> None:
        super().__init__()
        self.leak = leak

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        centre, corner = g[..., :10], g[..., 10:]
        useful = centre[..., :5].sum(-1, keepdim=True)  # 1 under centres 0-4, else 0
        plain = 5 * centre
        leaked = torch.cat([self.leak * corner * centre[..., 5:],
                            torch.zeros_like(centre[..., 5:])], -1)
        rare = 5 * centre[..., :5] + 20 * useful * corner - 1
        return torch.cat([plain + leaked, rare], -1)


class ContextInTheHead(nn.Module):
    """The embedding carries the corner under every centre (its mean pixel value); the head
    (:class:`ContextHead`) applies the context."""

    def __init__(self, leak: float = 0.0) -> None:
        super().__init__()
        self.head = ContextHead(leak)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        centre = x[:, 0, CODE_ROW, CODE_COLUMNS]
        corner = (x * CORNER).flatten(1).sum(1, keepdim=True) / CORNER.sum()
        return torch.cat([centre, corner], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def test_js_divergence_and_margin_match_their_definitions() -> None:
    a = torch.randn(6, 15, generator=torch.Generator().manual_seed(0)) * 3
    b = torch.zeros(6, 15)
    b[:, 3] = 8.0
    expected = [jensenshannon(p, q) ** 2 for p, q in zip(a.softmax(1).double().numpy(),
                                                        b.softmax(1).double().numpy(),
                                                        strict=True)]
    np.testing.assert_allclose(js_divergence(a, b).numpy(), expected, rtol=1e-4, atol=1e-7)
    assert js_divergence(a, a).max() < DIVERGENCE_FLOOR * 1e-3  # rounding only, far below
    assert js_divergence(a, b).max() <= math.log(2)
    y = torch.tensor([3, 0, 3, 1, 2, 3])
    margins = label_margin(b, y)
    assert margins.tolist() == [8.0, -8.0, 8.0, -8.0, -8.0, 8.0]


def test_log_selectivity_floors_both_means() -> None:
    assert log_selectivity(0.5, 0.005, 1e-4) == pytest.approx(2.0)
    assert log_selectivity(0.5, 0.0, 1e-4) == pytest.approx(math.log10(0.5 / 1e-4))
    assert log_selectivity(0.0, 0.0, 1e-4) == 0.0  # a corner-blind model: no selectivity


def test_a_head_that_applies_the_context_is_output_selective_not_embedding_selective() -> None:
    test, probe = coded_splits()
    metrics, _ = evaluate(ContextInTheHead(), test, probe, CORNER, PLAN,
                          torch.Generator().manual_seed(0))
    # the embedding moves alike in both contexts: its selectivity is about 1 ...
    assert metrics["context_selectivity_perturbation"] == pytest.approx(1.0, abs=0.05)
    # ... while the prediction moves only where the corner decides the label
    assert metrics["output_divergence_removal_centre_5_9"] < 1e-6
    assert metrics["output_margin_change_removal_centre_5_9"] < 1e-5
    assert metrics["output_divergence_removal_centre_0_4"] > 0.1
    assert metrics["output_selectivity_removal"] > 3.0  # > 1000x, against the floor
    assert metrics["output_margin_selectivity_removal"] > 3.0
    assert metrics["output_selectivity_perturbation"] > 3.0  # masking the corner: the same
    assert metrics["output_selectivity_removal"] == pytest.approx(
        math.log10(metrics["output_divergence_removal_centre_0_4"] / DIVERGENCE_FLOOR))
    # a head that also reads the corner under 5-9 loses most of that selectivity
    leaky, _ = evaluate(ContextInTheHead(leak=20.0), test, probe, CORNER, PLAN,
                        torch.Generator().manual_seed(0))
    assert leaky["context_selectivity_perturbation"] == pytest.approx(
        metrics["context_selectivity_perturbation"])  # the same embedding
    assert leaky["output_selectivity_removal"] < 1.0


def test_probe_flip_outcomes_average_to_the_flip_rates() -> None:
    test, probe = coded_splits()
    gated = evaluate_clean(ContextInTheHead(), test, probe, batch_size=64)
    assert gated["per_image"]["flip_rate_centre_0_4"] == [1] * (N_PROBE // 2)
    assert gated["per_image"]["flip_rate_centre_5_9"] == [0] * (N_PROBE // 2)
    assert (gated["flip_rate_centre_0_4"], gated["flip_rate_centre_5_9"]) == (1.0, 0.0)
    torch.manual_seed(0)
    for model in (ContextInTheHead(leak=20.0), CornerNet([4], 8, 15).eval()):
        clean = evaluate_clean(model, test, probe, batch_size=64)
        for context, n in (("centre_0_4", N_PROBE // 2), ("centre_5_9", N_PROBE // 2)):
            outcomes = clean["per_image"][f"flip_rate_{context}"]
            assert len(outcomes) == n and set(outcomes) <= {0, 1}
            assert np.mean(outcomes) == pytest.approx(clean[f"flip_rate_{context}"])


def test_per_image_outcomes_from_the_metrics_files_decide_claims(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clean and sensitivity files of two models x two seeds, read back by the report's
    per-seed table: the gated model flips (and moves its prediction) less under centres 5-9
    than the leaky one, image by image."""
    monkeypatch.chdir(tmp_path)
    params = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    params.update(models={"leaky": {"method": "erm"}, "gated": {"method": "fcl"}}, seeds=[0, 1],
                  corner={"models": ["leaky", "gated"]})
    for seed in params["seeds"]:
        test, probe = coded_splits(seed=seed)
        for name, leak in (("leaky", 20.0), ("gated", 0.0)):
            model = ContextInTheHead(leak)
            sensitivity, _ = evaluate(model, test, probe, CORNER, PLAN,
                                      torch.Generator().manual_seed(0))
            for kind, metrics in (("clean", evaluate_clean(model, test, probe, 64)),
                                  ("sensitivity", sensitivity)):
                save_json(paths.metrics_path(name, seed, kind),
                          {"model": name, "method": params["models"][name]["method"],
                           "seed": seed, **metrics})
    table = per_seed_table(params)
    leaky_rate = table.loc[table["model"] == "leaky", "flip_rate_centre_5_9"].mean()
    assert 0.3 < leaky_rate < 0.7  # the brightnesses above 0.5 flip
    for metric in ("flip_rate_centre_5_9", "output_divergence_removal_centre_5_9"):
        spec = {"number": 3, "statement": "s", "primary": [
            {"metric": metric, "subject": "fcl", "reference": "baseline", "direction": "lower",
             "min_effect": 0.05, "unit": "images"}]}
        claim = decide_claim("c", spec, table, params["claims"])
        comparison = claim.comparisons[0]
        assert comparison.interval.method == "per_image", metric
        assert claim.verdict == "supported", metric
        means = table.groupby("model")[metric].mean()
        assert comparison.interval.estimate == pytest.approx(means["gated"] - means["leaky"])
