"""The robustness report section: long tables, per-family means and the relative corruption
error, claim verdicts and an end-to-end render."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robsens.core.io import save_json
from robsens.pipeline import paths
from robsens.robustness.claims import curve_at
from robsens.robustness.metrics import RCE
from robsens.robustness.report import per_family, per_severity, per_sigma, robustness_section

PARAMS = {
    "models": {
        "erm": {"method": "erm"},
        "noise_0.1": {"method": "noise_aug", "sigma": 0.1},
        "noise_0.6": {"method": "noise_aug", "sigma": 0.6},
        "fcl": {"method": "fcl"},
        "adv_linf": {"method": "adv_linf", "eps": 0.1},
        "fcl_random": {"method": "fcl_random"},
    },
    "corner": {"models": ["erm", "noise_0.1", "noise_0.6", "fcl", "adv_linf", "fcl_random"]},
    "seeds": [0, 1],
    "report": {"ci_level": 0.95},
    "robustness": {"seed": 0, "corruptions": ["fog", "rotate"], "rfs_sigmas": [0.2, 0.5],
                   "rfs_noise": "per_pixel", "rfs_draws": 1, "rfs_balanced": False},
}
# model -> (mean corrupted accuracy, clean rare-class accuracy, mean RFS)
TRUTH = {
    "erm": (0.60, 0.90, 0.2),
    "noise_0.1": (0.65, 0.80, 0.2),
    "noise_0.6": (0.80, 0.50, 0.1),
    "fcl": (0.70, 0.85, 0.2),
    "adv_linf": (0.62, 0.70, -0.1),
    "fcl_random": (0.66, 0.84, 0.2),
}


def _robustness(model: str, seed: int) -> dict:
    acc, _, rfs = TRUTH[model]
    jitter = 0.01 * seed
    return {
        "model": model, "method": PARAMS["models"][model]["method"], "seed": seed,
        "n_images": 50, "severities": [1, 2, 3, 4, 5],
        # not in family order (weather before geometric): the report reorders
        "accuracy": {"rotate": [acc - jitter] * 5, "fog": [acc + jitter] * 5},
        "rare_accuracy": {"rotate": [0.4] * 5, "fog": [0.5] * 5},
        "mean_corrupted_accuracy": acc, "mean_corrupted_rare_accuracy": 0.45,
        "rfs": {"sigma": [0.2, 0.5], "rfs": [rfs - jitter, rfs + jitter]}, "mean_rfs": rfs,
    }


def _clean(model: str, seed: int) -> dict:
    return {"model": model, "method": PARAMS["models"][model]["method"], "seed": seed,
            "accuracy": 0.95, "rare_accuracy": TRUTH[model][1] + 0.01 * seed}


@pytest.fixture()
def metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # every artifact path is relative to the project root
    for model in TRUTH:
        for seed in (0, 1):
            save_json(paths.metrics_path(model, seed, "robustness"), _robustness(model, seed))
            save_json(paths.metrics_path(model, seed, "clean"), _clean(model, seed))
    return tmp_path


def test_long_tables() -> None:
    robust = pd.DataFrame([_robustness("erm", 0), _robustness("fcl", 1)])
    long = per_severity(robust)
    assert len(long) == 2 * 2 * 5
    assert set(long.columns) == {"model", "seed", "corruption", "severity", "accuracy",
                                 "rare_accuracy"}
    assert len(per_sigma(robust)) == 2 * 2


def test_section_renders_tables_figures_and_claims(metrics_dir: Path) -> None:
    fig_dir = metrics_dir / "figures"
    text, summary = robustness_section(PARAMS, fig_dir)
    for name in ("corrupted_accuracy", "rfs", "robustness_sensitivity_plane"):
        assert (fig_dir / f"{name}.png").stat().st_size > 0
    assert "| noise_0.6 | noise_aug | 2 | 0.800 ± 0.000 |" in text
    assert summary["robustness"]["fcl"]["mean_corrupted_accuracy"] == pytest.approx(0.70)
    assert "claims" not in summary  # decided by robsens.report.claims from the per-seed table
    # the per-family table: one column per family of the run, then the relative error
    assert ("| model | method | seeds | weather | geometric | relative corruption error (mCE) |"
            in text)
    erm = [line for line in text.splitlines() if line.startswith("| erm | erm | 2 |")]
    assert any(line.endswith("| 1.000 ± 0.000 |") for line in erm)
    # the per-corruption table, ordered by family
    assert text.index("| weather | fog |") < text.index("| geometric | rotate |")


def test_per_family_table_matches_hand_computed_values() -> None:
    robust = pd.DataFrame([_robustness(m, s) for m in ("erm", "noise_0.6") for s in (0, 1)])
    table = per_family(PARAMS, robust).set_index(["model", "seed"])
    assert table.loc[("noise_0.6", 1), "mean_corrupted_accuracy_weather"] == pytest.approx(0.81)
    assert table.loc[("noise_0.6", 1), "mean_corrupted_accuracy_geometric"] == pytest.approx(0.79)
    assert table.loc[("erm", 0), RCE] == table.loc[("erm", 1), RCE] == 1.0
    # errors per severity: seed 0 erm 0.4 / noise 0.2 on both; seed 1 fog 0.39 / 0.19, rotate
    # 0.41 / 0.21 (severities cancel, the same at each)
    assert table.loc[("noise_0.6", 0), RCE] == pytest.approx(0.5)
    assert table.loc[("noise_0.6", 1), RCE] == pytest.approx((0.19 / 0.39 + 0.21 / 0.41) / 2)


def test_section_without_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert robustness_section(PARAMS, tmp_path) == (
        "## Robustness\n\nNo robustness metrics yet.\n", {}
    )


def test_noise_curve_is_read_along_its_segments_even_when_not_monotone() -> None:
    # sigma order: robustness rises, then falls (as in the default run)
    xs, ys = np.array([0.689, 0.702, 0.672]), np.array([0.876, 0.703, 0.479])
    assert curve_at(xs, ys, 0.685) == pytest.approx(0.703 + (0.479 - 0.703) * (0.685 - 0.702)
                                                    / (0.672 - 0.702))
    assert curve_at(xs, ys, 0.695) == pytest.approx(max(
        0.876 + (0.703 - 0.876) * (0.695 - 0.689) / (0.702 - 0.689),
        0.703 + (0.479 - 0.703) * (0.695 - 0.702) / (0.672 - 0.702)))
    assert np.isnan(curve_at(xs, ys, 0.71))
