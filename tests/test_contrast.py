"""The contrast sweep's reading against the linear theory, on planted per-seed tables: cue
reliance minus the baseline's per contrast over the seeds that passed their gates, and the
sentence on the predicted sign change (negative at the lowest contrast, positive at the
highest)."""

from __future__ import annotations

import pandas as pd
import pytest

from robsens.spurious.contrast_report import METRIC, agreement, differences

SEEDS = (0, 1, 2)


def planted(reliance: dict[tuple[str, float], tuple[float, ...]],
            failed: frozenset = frozenset()) -> pd.DataFrame:
    rows = []
    for (model, contrast), values in reliance.items():
        for seed, value in zip(SEEDS, values, strict=True):
            rows.append({"model": model, "seed": seed, "contrast": contrast,
                         "role": "baseline" if model == "erm" else "adversarial_curve",
                         "norm": None if model == "erm" else "linf", METRIC: value,
                         "failures": "not converged" if (model, contrast, seed) in failed
                         else ""})
    return pd.DataFrame(rows)


ERM = {("erm", 0.2): (0.30, 0.32, 0.31), ("erm", 1.0): (0.50, 0.52, 0.51)}


def test_a_sign_change_from_negative_to_positive_agrees() -> None:
    table = planted({**ERM, ("adv", 0.2): (0.10, 0.13, 0.11), ("adv", 1.0): (0.70, 0.71, 0.72)})
    diffs = differences(table, 0.95)
    low = diffs.set_index("contrast").loc[0.2]
    assert low["estimate"] == pytest.approx((-0.20 - 0.19 - 0.20) / 3) and low["n"] == 3
    assert low["high"] < 0
    (sentence,) = agreement(diffs)
    assert "− at contrast 0.2, + at 1" in sentence and "agrees" in sentence


def test_one_sign_throughout_disagrees_and_a_gated_end_cannot_tell() -> None:
    table = planted({**ERM, ("adv", 0.2): (0.10, 0.13, 0.11), ("adv", 1.0): (0.30, 0.31, 0.33)})
    (sentence,) = agreement(differences(table, 0.95))
    assert "− at contrast 0.2, − at 1" in sentence and "disagrees" in sentence
    # two of three seeds of the baseline gated at contrast 1: no interval there
    gated = planted({**ERM, ("adv", 0.2): (0.10, 0.13, 0.11), ("adv", 1.0): (0.7, 0.7, 0.7)},
                    frozenset({("erm", 1.0, 0), ("erm", 1.0, 1)}))
    diffs = differences(gated, 0.95)
    high = diffs.set_index("contrast").loc[1.0]
    assert high["n"] == 1 and "erm seed 0: not converged" in high["gated"]
    (sentence,) = agreement(diffs)
    assert "? at 1" in sentence and "fewer than two seeds" in sentence


def test_an_interval_across_zero_cannot_tell() -> None:
    table = planted({**ERM, ("adv", 0.2): (0.2, 0.4, 0.3), ("adv", 1.0): (0.7, 0.71, 0.72)})
    (sentence,) = agreement(differences(table, 0.95))
    assert "0 at contrast 0.2" in sentence and "not distinguishable from 0" in sentence
