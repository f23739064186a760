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


def test_the_difference_is_paired_by_seed_over_the_seeds_that_passed() -> None:
    table = planted({**ERM, ("adv", 0.2): (0.10, 0.13, 0.11), ("adv", 1.0): (0.70, 0.71, 0.72)})
    low = differences(table, 0.95).set_index("contrast").loc[0.2]
    assert low["estimate"] == pytest.approx((-0.20 - 0.19 - 0.20) / 3) and low["n"] == 3
    assert low["high"] < 0
    # two of three seeds of the baseline gated at contrast 1: no interval there
    gated = planted({**ERM, ("adv", 0.2): (0.10, 0.13, 0.11), ("adv", 1.0): (0.7, 0.7, 0.7)},
                    frozenset({("erm", 1.0, 0), ("erm", 1.0, 1)}))
    diffs = differences(gated, 0.95)
    high = diffs.set_index("contrast").loc[1.0]
    assert high["n"] == 1 and "erm seed 0: not converged" in high["gated"]
    (sentence,) = agreement(diffs)
    assert "? at 1" in sentence and "fewer than two seeds" in sentence


@pytest.mark.parametrize(("low", "high", "signs", "verdict"), [
    ((0.10, 0.13, 0.11), (0.70, 0.71, 0.72), "− at contrast 0.2, + at 1", "agrees"),
    ((0.10, 0.13, 0.11), (0.30, 0.31, 0.33), "− at contrast 0.2, − at 1", "disagrees"),
    ((0.2, 0.4, 0.3), (0.7, 0.71, 0.72), "0 at contrast 0.2", "not distinguishable from 0"),
], ids=["sign change agrees", "one sign disagrees", "across zero cannot tell"])
def test_the_sentence_on_the_threshold(low, high, signs, verdict) -> None:
    table = planted({**ERM, ("adv", 0.2): low, ("adv", 1.0): high})
    (sentence,) = agreement(differences(table, 0.95))
    assert signs in sentence and verdict in sentence
