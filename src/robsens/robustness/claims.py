"""The robustness slice's contribution to the claims: the derived per-seed metrics claim 2 is
decided on.

Claim 2 (FCL is a better point on the robustness-sensitivity plane than the noise curve)
compares a model with the noise-augmentation curve on one axis *at the same value of the
other*. Per seed, the baseline and the noise-curve models of that seed trace a polyline
(mean corrupted accuracy, clean rare-class accuracy) in curve order; :func:`over_noise_curve`
reads it at a model's own value of one axis and subtracts the curve's value of the other:

- :data:`OVER_CURVE`: rare-class accuracy gained at equal robustness (the curve read at the
  model's mean corrupted accuracy);
- :data:`ROBUST_OVER_CURVE`: robustness gained at equal rare-class accuracy (the curve read
  at the model's rare-class accuracy), for a model whose robustness the curve never reaches.

The differences are paired by seed like every other endpoint (same initialisation, same batch
order), and NaN for a seed whose curve does not reach the model's value (``UNDEFINED_WHY``);
the claim then falls back to the next declared endpoint (:mod:`robsens.report.claims`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

ROBUST, RARE = "mean_corrupted_accuracy", "rare_accuracy"
OVER_CURVE = "rare_accuracy_over_noise_curve"
ROBUST_OVER_CURVE = "robustness_over_noise_curve"
# derived metric -> (the axis it measures, the axis the curve is read at)
CURVE_METRICS = {OVER_CURVE: (RARE, ROBUST), ROBUST_OVER_CURVE: (ROBUST, RARE)}
CURVE_ROLES = ("baseline", "noise_curve")  # the roles whose models draw the curve
# why a derived metric can be undefined (NaN) for a seed: the claims' notes say it
UNDEFINED_WHY = {
    OVER_CURVE: "the noise curve of that seed (baseline and noise-curve models) never reaches "
                "the model's mean corrupted accuracy, so the two cannot be compared at the "
                "same robustness",
    ROBUST_OVER_CURVE: "the noise curve of that seed (baseline and noise-curve models) never "
                       "reaches the model's rare-class accuracy, so the two cannot be compared "
                       "at the same rare-class accuracy",
}


def curve_at(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """Highest y of the polyline (xs, ys), in the given order, where it crosses ``x``; NaN if
    it never does. The noise curve, in sigma order, need not be monotone in x."""
    hits = [y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 != x0 else max(y0, y1)
            for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:], strict=True)
            if min(x0, x1) <= x <= max(x0, x1)]
    return max(hits, default=math.nan)


def over_noise_curve(table: pd.DataFrame, metric: str = OVER_CURVE) -> pd.Series:
    """Per row (model x seed), the derived ``metric`` (a key of :data:`CURVE_METRICS`): the
    row's value of the measured axis minus the noise curve's at the row's value of the other
    axis, the curve drawn through the baseline and the noise-curve models of the same seed
    (the baseline is its sigma = 0 end). The curve's highest value where it crosses is taken,
    so the model is compared with the best the curve offers there."""
    out = pd.Series(math.nan, index=table.index, name=metric)
    measured, at = CURVE_METRICS[metric]
    if not {ROBUST, RARE, "role"} <= set(table.columns):
        return out
    baseline, noise = CURVE_ROLES
    for _, rows in table.groupby("seed"):
        curve = pd.concat([rows[rows["role"] == baseline].head(1),
                           rows[rows["role"] == noise].sort_values("curve", kind="stable")])
        if len(curve) < 2:
            continue
        xs, ys = curve[at].to_numpy(float), curve[measured].to_numpy(float)
        for i, row in rows.iterrows():
            out[i] = row[measured] - curve_at(xs, ys, row[at])
    return out


def noise_curve_metrics(table: pd.DataFrame) -> dict[str, pd.Series]:
    """Every derived metric of :data:`CURVE_METRICS`, by name: the per-seed table's columns."""
    return {metric: over_noise_curve(table, metric) for metric in CURVE_METRICS}
