"""RFS against hand-computed values, region noise confined to its region, the scoring of
models on stored corrupted sets, and the per-family means and relative corruption error on
planted per-corruption accuracies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from robsens.blocks.regions import region_masks
from robsens.robustness.corruptions import SEVERITIES
from robsens.robustness.corruptions.sets import write_corrupted_sets
from robsens.robustness.metrics import (
    RCE,
    evaluate_robustness,
    family_means,
    region_noise,
    relative_corruption_error,
    rfs,
    rfs_curve,
    score_corrupted_set,
)

REGIONS = region_masks(10, "top_right")
LABELS = torch.tensor([12, 12, 3, 10, 0, 12, 14, 5])


@pytest.mark.parametrize(
    ("a_fg", "a_bg", "expected"),
    [
        (0.2, 0.6, 0.5),  # a = 0.4: 0.4 / (2 * 0.4)
        (0.9, 0.7, -0.5),  # a = 0.8: -0.2 / (2 * 0.2)
        (0.5, 0.5, 0.0),
        (0.0, 1.0, 1.0),  # a = 0.5: the largest possible gap
        (1.0, 0.0, -1.0),
        (0.0, 0.0, 0.0),  # a = 0
        (1.0, 1.0, 0.0),  # a = 1
        (0.0, 0.1, 1.0),  # a = 0.05: 0.1 / (2 * 0.05)
        (1.0, 0.98, -1.0),  # a = 0.99: -0.02 / (2 * 0.01)
    ],
)
def test_rfs_matches_hand_computed_values(a_fg: float, a_bg: float, expected: float) -> None:
    assert rfs(a_fg, a_bg) == pytest.approx(expected)


@pytest.mark.parametrize("region", REGIONS, ids=["centre", "corner"])
def test_region_noise_touches_only_its_region(region: torch.Tensor) -> None:
    x = torch.full((4, 1, 28, 28), 0.5)
    out = region_noise(x, region, 0.3, seed=0)
    changed = (out != x).any(dim=(0, 1))
    assert not changed[~region].any()
    assert changed[region].all()
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_region_noise_shares_one_draw_across_regions() -> None:
    x = torch.full((3, 1, 28, 28), 0.5)
    centre, corner = REGIONS
    everywhere = region_noise(x, centre | corner, 0.1, seed=3)
    assert torch.equal(region_noise(x, centre, 0.1, seed=3)[..., centre], everywhere[..., centre])
    assert torch.equal(region_noise(x, corner, 0.1, seed=3)[..., corner], everywhere[..., corner])


class CornerWatcher(nn.Module):
    """Predicts class 1 as soon as anything moves in the corner, else class 0."""

    def __init__(self) -> None:
        super().__init__()
        self.threshold = nn.Parameter(torch.tensor(0.01))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spread = x[..., REGIONS[1]].std(dim=(1, 2))
        return torch.stack([self.threshold - spread, spread - self.threshold], dim=1)


class Constant(nn.Module):
    """Always predicts ``label``."""

    def __init__(self, label: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(nn.functional.one_hot(torch.tensor(label), 15).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1)


def test_rfs_curve_of_a_background_only_model() -> None:
    x, y = torch.zeros(20, 1, 28, 28), torch.zeros(20, dtype=torch.long)
    curve, fg_correct, bg_correct = rfs_curve(CornerWatcher(), x, y, REGIONS, [0.0, 0.5],
                                              seed=0, batch_size=8)
    assert fg_correct == [1.0] * 20 and bg_correct == [0.5] * 20  # per image, over the levels
    assert curve == {
        "sigma": [0.0, 0.5],
        "fg_accuracy": [1.0, 1.0],
        "bg_accuracy": [1.0, 0.0],
        "rfs": [0.0, -1.0],
    }


def test_score_corrupted_set_counts_by_hand() -> None:
    corrupted = {
        "x": np.zeros((2, len(LABELS), 28, 28), dtype=np.uint8),
        "y": LABELS.numpy(),
        "severities": np.array([1, 2]),
    }
    scores = score_corrupted_set(Constant(12), corrupted, batch_size=3)
    assert scores["accuracy"] == [pytest.approx(3 / 8)] * 2
    assert scores["rare_accuracy"] == [pytest.approx(3 / 5)] * 2
    assert scores["correct"].tolist() == [2 * int(y == 12) for y in LABELS.tolist()]


def test_evaluate_robustness_scores_every_set(tmp_path: Path) -> None:
    x = torch.zeros(len(LABELS), 1, 28, 28)
    write_corrupted_sets(x, LABELS, ["rotate", "fog"], 0, tmp_path, source={})
    metrics = evaluate_robustness(
        Constant(12), tmp_path, ["rotate", "fog"], (x, LABELS), REGIONS, [0.2, 0.4], 0, 4
    )
    assert set(metrics["accuracy"]) == {"rotate", "fog"}
    assert metrics["accuracy"]["fog"] == [pytest.approx(3 / 8)] * len(SEVERITIES)
    assert metrics["mean_corrupted_accuracy"] == pytest.approx(3 / 8)
    per_image = metrics["per_image"]["mean_corrupted_accuracy"]  # what the claims pair
    assert np.mean(per_image) == pytest.approx(metrics["mean_corrupted_accuracy"])
    assert metrics["mean_corrupted_rare_accuracy"] == pytest.approx(3 / 5)
    # one family mean per family in the run, none for the others
    assert {k for k in metrics if k.startswith("mean_corrupted_accuracy_")} == {
        "mean_corrupted_accuracy_geometric", "mean_corrupted_accuracy_weather"}
    assert metrics["mean_corrupted_accuracy_weather"] == pytest.approx(3 / 8)
    assert metrics["rfs"]["rfs"] == [0.0, 0.0] and metrics["mean_rfs"] == 0.0
    for region in ("fg", "bg"):  # the RFS regions' per-image outcomes average to their scalar
        key = f"rfs_{region}_accuracy"
        assert np.mean(metrics["per_image"][key]) == pytest.approx(metrics[key]) == 3 / 8
    assert metrics["n_images"] == len(LABELS)


def test_evaluate_robustness_refuses_mismatched_labels(tmp_path: Path) -> None:
    x = torch.zeros(len(LABELS), 1, 28, 28)
    write_corrupted_sets(x, LABELS, ["rotate"], 0, tmp_path, source={})
    with pytest.raises(ValueError, match="do not match"):
        evaluate_robustness(
            Constant(12), tmp_path, ["rotate"], (x, LABELS.flip(0)), REGIONS, [0.2], 0, 4
        )


def test_family_means_match_hand_computed_values() -> None:
    accuracy = {
        "shot_noise": [0.9, 0.8, 0.7, 0.6, 0.5],  # noise: (3.5 + 5.0) / 10
        "fog": [0.5, 0.5, 0.5, 0.5, 0.0],  # weather: (2.0 + 1.5) / 10
        "gaussian_noise": [1.0] * 5,
        "rotate": [0.2, 0.4, 0.6, 0.8, 1.0],  # geometric: 3.0 / 5
        "brightness": [0.3] * 5,
    }
    assert family_means(accuracy) == pytest.approx({
        "mean_corrupted_accuracy_noise": 0.85,
        "mean_corrupted_accuracy_weather": 0.35,
        "mean_corrupted_accuracy_geometric": 0.6,
    })


def test_relative_corruption_error_matches_hand_computed_values() -> None:
    accuracy = {  # (model, seed) -> corruption -> accuracy per severity
        ("erm", 0): {"fog": [0.9, 0.7], "rotate": [0.8, 0.8]},  # errors 0.4, 0.4
        ("fcl", 0): {"fog": [0.95, 0.85], "rotate": [0.6, 0.6]},  # 0.2, 0.8: E = 0.5, 2
        ("erm", 1): {"fog": [1.0, 1.0], "rotate": [0.5, 0.5]},  # fog error 0: left out
        ("fcl", 1): {"fog": [0.9, 0.9], "rotate": [0.75, 0.75]},  # rotate E = 0.5 / 1
        ("fcl", 2): {"fog": [0.9, 0.9], "rotate": [0.75, 0.75]},  # no baseline at seed 2
    }
    robust = pd.DataFrame([{"model": m, "seed": s, "accuracy": a}
                           for (m, s), a in accuracy.items()])
    rows = [("fcl", 1, "fcl"), ("erm", 0, "baseline"), ("fcl", 0, "fcl"), ("erm", 1, "baseline"),
            ("fcl", 2, "fcl"), ("noise_0.1", 0, "noise_curve")]  # no robustness metrics
    table = pd.DataFrame(rows, columns=["model", "seed", "role"], index=[5, 3, 8, 1, 0, 2])
    out = relative_corruption_error(table, robust)
    assert out.name == RCE and out.index.equals(table.index)
    assert out[3] == 1.0 and out[1] == 1.0  # the baseline's, exactly
    assert out[8] == pytest.approx((0.5 + 2.0) / 2)
    assert out[5] == pytest.approx(0.5)
    assert np.isnan(out[0]) and np.isnan(out[2])
    assert relative_corruption_error(table.drop(columns="role"), robust).isna().all()
