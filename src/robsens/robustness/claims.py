"""The robustness slice's contribution to the claims: the derived per-seed metric claim 2
is decided on.

Claim 2 (FCL is a better point on the robustness-sensitivity plane than the noise curve)
compares a model with the noise-augmentation curve *at the same robustness*. Per seed, the
noise-curve models of that seed trace a polyline (mean corrupted accuracy, clean rare-class
accuracy) in curve order; :func:`over_noise_curve` reads it at a model's own corrupted
accuracy. The difference is paired by seed like every other endpoint (same initialisation,
same batch order), and is NaN for a seed whose curve does not reach that robustness.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

ROBUST, RARE = "mean_corrupted_accuracy", "rare_accuracy"
OVER_CURVE = "rare_accuracy_over_noise_curve"
# why a derived metric can be undefined (NaN) for a seed: the claims' notes say it
UNDEFINED_WHY = {OVER_CURVE: "the noise curve of that seed (baseline and noise-curve models) "
                             "never reaches the model's mean corrupted accuracy, so the two "
                             "cannot be compared at the same robustness"}


def curve_at(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """Highest y of the polyline (xs, ys), in the given order, where it crosses ``x``; NaN if
    it never does. The noise curve, in sigma order, need not be monotone in x."""
    hits = [y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 != x0 else max(y0, y1)
            for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:], strict=True)
            if min(x0, x1) <= x <= max(x0, x1)]
    return max(hits, default=math.nan)


def over_noise_curve(table: pd.DataFrame) -> pd.Series:
    """Per row (model x seed): its clean rare-class accuracy minus the noise curve's at its
    mean corrupted accuracy, the curve drawn through the baseline and the noise-curve models
    of the same seed (the baseline is the curve's sigma = 0 end)."""
    out = pd.Series(math.nan, index=table.index, name=OVER_CURVE)
    if not {ROBUST, RARE, "role"} <= set(table.columns):
        return out
    for _, rows in table.groupby("seed"):
        curve = pd.concat([rows[rows["role"] == "baseline"].head(1),
                           rows[rows["role"] == "noise_curve"].sort_values("curve",
                                                                          kind="stable")])
        if len(curve) < 2:
            continue
        xs, ys = curve[ROBUST].to_numpy(float), curve[RARE].to_numpy(float)
        for i, row in rows.iterrows():
            out[i] = row[RARE] - curve_at(xs, ys, row[ROBUST])
    return out
