"""Claims 1, 2 and 4 of science.md section 7 as records (:class:`robsens.report.claims.Claim`).

Input: one row per model (the robustness summary joined with the clean rare-class accuracy
and the models' roles, :func:`robsens.robustness.report.plane_points`). Models are picked by
role, never by name. Each claim's decision is one function (``*_rule``) from estimates to
sub-verdicts; a later change of statistics swaps those functions only.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from robsens.report.claims import (
    INCONCLUSIVE,
    REFUTED,
    SUPPORTED,
    Claim,
    Estimate,
    combine,
    estimate,
    role_rows,
    separation,
    unchecked,
)

ROBUST, RARE, RFS = "mean_corrupted_accuracy", "rare_accuracy", "mean_rfs"
GAIN = "share_of_noise_gain"  # claim 2: FCL's corrupted-accuracy gain over the baseline's / the
# most robust noise model's gain over the baseline's
CURVE = "noise_curve"  # claim 2's subject for the noise curve read at FCL's corrupted accuracy

NOISE_TRADEOFF = ("Strong Gaussian-noise augmentation raises corrupted accuracy and lowers "
                  "rare-class accuracy (corner sensitivity under centres 0-4: claim 3's section).")
NOISE_TRADEOFF_RULE = (
    "means over seeds (the intervals are reported, not used): supported if the noise-curve "
    "model furthest along the curve has both a higher mean corrupted accuracy and a lower clean "
    "rare-class accuracy than the baseline, refuted otherwise")
FCL_PLANE = ("FCL keeps rare-class accuracy near ERM's while gaining much of the corruption "
             "robustness: a better point on the robustness-sensitivity plane than the "
             "noise-augmentation curve.")
FCL_PLANE_RULE = (
    "means over seeds: supported if FCL's clean rare-class accuracy is above the noise curve's "
    "(its highest crossing) at FCL's mean corrupted accuracy, refuted if not, inconclusive if "
    "the curve does not reach that corrupted accuracy")
ADVERSARIAL_RFS = ("Adversarially trained models rely more on a label-correlated background "
                   "than ERM: lower relative foreground sensitivity (RFS).")
ADVERSARIAL_RFS_RULE = (
    "t-intervals over seeds: per adversarial model, supported if its mean-RFS interval lies "
    "wholly below the baseline's, refuted if wholly above, inconclusive if they overlap; "
    "supported if all are, refuted if any is")


def _by_mean(holds: bool) -> str:
    return SUPPORTED if holds else REFUTED


def noise_tradeoff_rule(top: dict[str, Estimate], baseline: dict[str, Estimate]
                        ) -> dict[str, str]:
    """Claim 1: per metric, whether the strongest noise model moved the claimed way."""
    return {ROBUST: _by_mean(top[ROBUST].mean > baseline[ROBUST].mean),
            RARE: _by_mean(top[RARE].mean < baseline[RARE].mean)}


def fcl_plane_rule(fcl_rare: Estimate, curve_rare: Estimate) -> str:
    """Claim 2: FCL above, below or out of reach of the noise curve."""
    if math.isnan(curve_rare.mean):
        return INCONCLUSIVE
    return _by_mean(fcl_rare.mean > curve_rare.mean)


def adversarial_rfs_rule(baseline: Estimate, adversarial: dict[str, Estimate]
                         ) -> dict[str, str]:
    """Claim 4: per adversarial model, its mean RFS against the baseline's."""
    word = {"lower": SUPPORTED, "higher": REFUTED, "overlap": INCONCLUSIVE}
    return {m: word[separation(e, baseline)] for m, e in adversarial.items()}


def curve_at(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """Highest y of the polyline (xs, ys), in the given order, where it crosses ``x``; NaN if
    it never does. The noise curve, in sigma order, need not be monotone in x."""
    hits = [y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 != x0 else max(y0, y1)
            for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:], strict=True)
            if min(x0, x1) <= x <= max(x0, x1)]
    return max(hits, default=math.nan)


def _estimates(row: pd.Series, *metrics: str) -> dict[str, Estimate]:
    return {m: estimate(row, m) for m in metrics}


def noise_tradeoff(points: pd.DataFrame) -> Claim:
    claim = Claim("noise_tradeoff", 1, NOISE_TRADEOFF, NOISE_TRADEOFF_RULE, metric=RARE)
    base, noise = role_rows(points, "baseline"), role_rows(points, "noise_curve")
    if base.empty or noise.empty:
        return unchecked(claim, points, "baseline", "noise_curve")
    top, e = noise.iloc[-1], base.iloc[0]
    t, b = top["model"], e["model"]
    estimates = {t: _estimates(top, ROBUST, RARE), b: _estimates(e, ROBUST, RARE)}
    checks = {t: noise_tradeoff_rule(estimates[t], estimates[b])}
    return replace(
        claim, verdict=combine(checks), models={"noise_curve": [t], "baseline": [b]},
        estimates=estimates, primary=[t], reference=b, checks=checks,
        note=f"{t} is the noise-curve model furthest along the curve "
             f"({top['curve_param']} = {top['curve']:g}).")


def fcl_plane(points: pd.DataFrame) -> Claim:
    claim = Claim("fcl_plane", 2, FCL_PLANE, FCL_PLANE_RULE, metric=RARE)
    base, noise = role_rows(points, "baseline"), role_rows(points, "noise_curve")
    fcl = role_rows(points, "fcl")
    if base.empty or noise.empty or fcl.empty:
        return unchecked(claim, points, "baseline", "noise_curve", "fcl")
    f, e = fcl.iloc[0], base.iloc[0]
    best = noise.loc[noise[ROBUST].idxmax()]  # the most robust noise model
    gain = ((f[ROBUST] - e[ROBUST]) / (best[ROBUST] - e[ROBUST]) if best[ROBUST] > e[ROBUST]
            else math.nan)
    curve = Estimate(curve_at(noise[ROBUST].to_numpy(), noise[RARE].to_numpy(), f[ROBUST]))
    estimates = {f["model"]: {**_estimates(f, ROBUST, RARE), GAIN: Estimate(gain)},
                 e["model"]: _estimates(e, ROBUST, RARE),
                 **{n["model"]: _estimates(n, ROBUST, RARE) for _, n in noise.iterrows()},
                 CURVE: {ROBUST: Estimate(f[ROBUST]), RARE: curve}}
    checks = {f["model"]: {RARE: fcl_plane_rule(estimates[f["model"]][RARE], curve)}}
    reach = ("it does not reach FCL's corrupted accuracy, so the two cannot be compared at the "
             "same robustness" if math.isnan(curve.mean) else
             f"`{CURVE}` is its highest rare-class accuracy at FCL's corrupted accuracy")
    return replace(
        claim, verdict=combine(checks),
        models={"fcl": [f["model"]], "baseline": [e["model"]], "noise_curve": list(noise["model"])},
        estimates=estimates, primary=[f["model"]], reference=CURVE, checks=checks,
        note=f"The noise curve joins the noise-curve models in {best['curve_param']} order; "
             f"{reach}. `{GAIN}`: FCL's gain in mean corrupted accuracy over the baseline as a "
             f"share of that of the most robust noise model ({best['model']}).")


def adversarial_rfs(points: pd.DataFrame) -> Claim:
    claim = Claim("adversarial_rfs", 4, ADVERSARIAL_RFS, ADVERSARIAL_RFS_RULE, metric=RFS)
    base = role_rows(points, "baseline")
    adv = role_rows(points, "adversarial_curve").sort_values(["norm", "curve"], kind="stable")
    if base.empty or adv.empty:
        return unchecked(claim, points, "baseline", "adversarial_curve")
    b, models = base["model"].iloc[0], list(adv["model"])
    estimates = {a["model"]: {RFS: estimate(a, RFS)} for _, a in adv.iterrows()}
    estimates[b] = {RFS: estimate(base.iloc[0], RFS)}
    per_model = adversarial_rfs_rule(estimates[b][RFS], {m: estimates[m][RFS] for m in models})
    checks = {m: {RFS: v} for m, v in per_model.items()}
    return replace(
        claim, verdict=combine(checks), models={"adversarial_curve": models, "baseline": [b]},
        estimates=estimates, primary=models, reference=b, checks=checks,
        note="Adversarial models by norm: " + "; ".join(
            f"{a['model']} ({a['norm']}, {a['curve_param']} = {a['curve']:g})"
            for _, a in adv.iterrows())
        + ". Not checked here: the accuracy drop under a decorrelated background (science.md "
          "section 8) and the growth with the attack radius.")


def robustness_claims(points: pd.DataFrame) -> list[Claim]:
    """Claims 1, 2 and 4 from the plane points."""
    return [noise_tradeoff(points), fcl_plane(points), adversarial_rfs(points)]
