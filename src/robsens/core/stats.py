"""Aggregation over seeds, and the paired inference that decides each claim.

Every method shares each seed's initialisation and batch order with the reference model, so a
claim compares per-seed differences (subject - reference) rather than two unpaired means: the
seed-to-seed variation common to both models cancels. Where per-image outcomes exist, the images
of each seed add evidence too (:func:`per_image`). Several comparisons of one claim are
corrected together with Holm's step-down procedure, expressed with intervals
(:func:`holm_intervals`) so every reported interval matches the test that decided it.

A comparison is decided against the smallest effect that matters, not only against 0
(:func:`decide`): it is refuted when significant in the opposite direction or when its whole
interval lies below that effect, supported when significant with an estimate at least that
effect, and inconclusive while its interval still contains it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

DIRECTIONS = ("higher", "lower")


def mean_ci(values: np.ndarray | pd.Series, level: float) -> tuple[float, float]:
    """(mean, half-width of the ``level`` t-interval); half-width NaN with one value."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan
    if len(v) == 1:
        return float(v[0]), math.nan
    half = stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean()), float(half)


def t_errorbar(level: float):
    """seaborn ``errorbar`` callable drawing the report's t-interval (a point with one seed)."""

    def interval(values: pd.Series) -> tuple[float, float]:
        mean, half = mean_ci(values, level)
        half = 0.0 if math.isnan(half) else half
        return mean - half, mean + half

    return interval


def fmt_ci(mean: float, half: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if math.isnan(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def summarise(df: pd.DataFrame, by: list[str], columns: list[str], level: float) -> pd.DataFrame:
    """One row per group: ``<col>`` mean, ``<col>_ci`` half-width, ``n_seeds``."""
    rows = []
    for key, group in df.groupby(by, sort=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        row["n_seeds"] = group["seed"].nunique()
        for col in columns:
            row[col], row[f"{col}_ci"] = mean_ci(group[col], level)
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame, labels: dict[str, str], keys: list[str]) -> str:
    """Render ``summary`` (from :func:`summarise`) with ``mean ± ci`` cells."""
    header = [*keys, "seeds", *labels.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.iterrows():
        cells = [str(row[k]) for k in keys] + [str(row["n_seeds"])]
        cells += [fmt_ci(row[c], row[f"{c}_ci"]) for c in labels]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Interval:
    """A paired estimate: mean difference (subject - reference) and its two-sided interval."""

    estimate: float
    low: float
    high: float
    level: float  # confidence level of [low, high]
    p_value: float  # two-sided, H0: mean difference = 0
    n: int  # seeds (or, for per_image, seeds combined)
    sd: float  # sd of the per-seed differences (ddof=1); NaN if n < 2
    method: str  # "t" | "bootstrap" | "per_image"

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval lies on one side of 0 (False for NaN bounds)."""
        return bool(self.low > 0 or self.high < 0)

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain Python scalars for summary.json; NaN stays NaN (the writer decides how)."""
        out = asdict(self)
        return {k: v if isinstance(v, str) else (int(v) if k == "n" else float(v))
                for k, v in out.items()}


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"confidence level {level} is not in (0, 1): use e.g. 0.95")


def _finite(diffs: np.ndarray | Sequence[float]) -> np.ndarray:
    d = np.asarray(diffs, dtype=float).ravel()
    return d[np.isfinite(d)]


def _undecided(d: np.ndarray, level: float, method: str) -> Interval:
    """Fewer than two values: an estimate at most, no interval, no test."""
    estimate = float(d.mean()) if len(d) else math.nan
    return Interval(estimate, math.nan, math.nan, level, math.nan, len(d), math.nan, method)


def _two_sided_p(estimate: float, se: float, sf: Callable[[float], float]) -> float:
    """p of ``estimate / se`` under a symmetric null with survival function ``sf``. A zero
    standard error is the limit of a vanishing one: p = 1 at a zero estimate, else 0."""
    if se == 0:
        return 1.0 if estimate == 0 else 0.0
    return float(min(1.0, 2 * sf(abs(estimate) / se)))


def paired_differences(subject: Mapping[int, float], reference: Mapping[int, float]) -> np.ndarray:
    """Per-seed ``subject - reference`` over the seeds both have with finite values, seeds
    sorted: a seed missing (or NaN) in either model contributes no pair."""
    seeds = sorted(s for s in subject.keys() & reference.keys()
                   if math.isfinite(subject[s]) and math.isfinite(reference[s]))
    return np.array([subject[s] - reference[s] for s in seeds], dtype=float)


def paired_t(diffs: np.ndarray | Sequence[float], level: float) -> Interval:
    """Student t interval of the mean difference and its one-sample t-test p-value (the paired
    t-test); non-finite differences are dropped."""
    _check_level(level)
    d = _finite(diffs)
    if len(d) < 2:
        return _undecided(d, level, "t")
    n, estimate, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * se
    p = _two_sided_p(estimate, se, lambda x: stats.t.sf(x, n - 1))
    return Interval(estimate, estimate - half, estimate + half, level, p, n, sd, "t")


def paired_bootstrap(diffs: np.ndarray | Sequence[float], level: float, resamples: int,
                     seed: int) -> Interval:
    """Percentile bootstrap interval of the mean difference, for when a t interval's normality
    is doubtful. The p-value is the two-sided bootstrap p (twice the smaller share of resampled
    means on either side of 0), floored at 1/resamples since the resamples cannot resolve
    less. Deterministic given ``seed``."""
    _check_level(level)
    if resamples < 1:
        raise ValueError(f"bootstrap resamples = {resamples}: use a positive count, e.g. 10000")
    d = _finite(diffs)
    if len(d) < 2:
        return _undecided(d, level, "bootstrap")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    share = min(np.mean(means <= 0), np.mean(means >= 0))
    p = float(min(1.0, max(2 * share, 1 / resamples)))
    return Interval(float(d.mean()), float(low), float(high), level, p, len(d),
                    float(d.std(ddof=1)), "bootstrap")


def per_image(subject: Sequence[np.ndarray], reference: Sequence[np.ndarray],
              level: float) -> Interval:
    """Paired per-image test within each seed, combined over seeds.

    One array pair per seed holds per-image scores (0/1 correctness or continuous) of the two
    models on the SAME images. Per seed, d_s = mean(s - r) with variance v_s = var(s - r) /
    n_images; combined, estimate = mean_s d_s with se = sqrt(sum v_s) / S and a normal
    interval. Thousands of images then count, not only the seeds; the inference is
    conditional on the trained seeds (it does not cover seed-to-seed variation, which the
    seed-level intervals do). Image pairs with a non-finite score are dropped; a seed with
    fewer than two images left cannot give a variance and is skipped.
    """
    _check_level(level)
    if len(subject) != len(reference):
        raise ValueError(f"per-image scores: {len(subject)} subject seeds but {len(reference)} "
                         "reference seeds; pass one array pair per seed")
    means, variances = [], []
    for k, (s, r) in enumerate(zip(subject, reference, strict=True)):
        s, r = np.asarray(s, dtype=float).ravel(), np.asarray(r, dtype=float).ravel()
        if s.shape != r.shape:
            raise ValueError(f"per-image scores of seed #{k}: {len(s)} subject images but "
                             f"{len(r)} reference images; score both models on the same images")
        diff = (s - r)[np.isfinite(s) & np.isfinite(r)]
        if len(diff) < 2:
            continue
        means.append(diff.mean())
        variances.append(diff.var(ddof=1) / len(diff))
    n_seeds = len(means)
    if n_seeds == 0:
        return _undecided(np.array([]), level, "per_image")
    estimate = float(np.mean(means))
    se = math.sqrt(float(sum(variances))) / n_seeds
    half = float(stats.norm.ppf((1 + level) / 2)) * se
    sd = float(np.std(means, ddof=1)) if n_seeds > 1 else math.nan
    p = _two_sided_p(estimate, se, stats.norm.sf)
    return Interval(estimate, estimate - half, estimate + half, level, p, n_seeds, sd,
                    "per_image")


def _holm_order(p: np.ndarray) -> np.ndarray:
    """Ascending p, ties in input order; a NaN p (no test possible) sorts last and still
    counts in the family size, which keeps the correction conservative."""
    return np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values, in input order: the k-th smallest (0-based) of m is multiplied
    by m - k, then made monotone along that order and capped at 1. NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    order = _holm_order(p)
    m = len(p)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.fmax.accumulate(scaled) if m else scaled
    adjusted[np.isnan(p)] = math.nan
    return adjusted


def holm_intervals(diffs_list: Sequence[np.ndarray], level: float,
                   interval: Callable[..., Interval] = paired_t) -> list[tuple[Interval, bool]]:
    """Holm's step-down procedure expressed with intervals.

    The comparisons are ordered by p-value; the k-th (0-based) of m is reported at level
    1 - (1 - level) / (m - k) and rejected iff every earlier one was rejected and its
    interval excludes 0. For the t interval this rejects exactly where ``holm(p) < 1 - level``,
    and each reported interval is the one that decided. Returns, in the input order,
    (interval at its Holm level, rejected). ``interval`` is :func:`paired_t` or a
    ``functools.partial`` of :func:`paired_bootstrap`.
    """
    _check_level(level)
    p = np.array([interval(d, level).p_value for d in diffs_list], dtype=float)
    m = len(p)
    decided: dict[int, tuple[Interval, bool]] = {}
    going = True
    for k, i in enumerate(_holm_order(p)):
        result = interval(diffs_list[i], 1 - (1 - level) / (m - k))
        going = going and result.excludes_zero
        decided[int(i)] = (result, going)
    return [decided[i] for i in range(m)]


def seeds_needed(sd: float, effect: float, level: float, max_seeds: int = 1000) -> int | None:
    """Smallest n >= 2 with t_{n-1}((1+level)/2) * sd / sqrt(n) < |effect|: the seeds at which
    an interval with the observed spread would exclude 0 if the true difference were
    ``effect``. None if not reached by ``max_seeds``, or if effect is 0 or either is NaN."""
    _check_level(level)
    if not (math.isfinite(sd) and math.isfinite(effect)) or effect == 0:
        return None
    n = np.arange(2, max_seeds + 1)
    if len(n) == 0:
        return None
    half = stats.t.ppf((1 + level) / 2, n - 1) * abs(sd) / np.sqrt(n)
    hit = np.flatnonzero(half < abs(effect))
    return int(n[hit[0]]) if len(hit) else None


# The reasons :func:`decide` gives, one per outcome.
OPPOSITE = "opposite direction"
TOO_SMALL = "smaller than the minimum that matters"
LARGE_ENOUGH = "significant, at least the minimum that matters"
OPEN = "the interval still contains the minimum that matters"
NO_INTERVAL = "no interval (fewer than 2 values)"


class Outcome(NamedTuple):
    """A comparison's verdict ("supported" | "refuted" | "inconclusive") and why."""

    verdict: str
    reason: str


def signed(interval: Interval, direction: str) -> tuple[float, float, float]:
    """(estimate, low, high) oriented so that the expected ``direction`` is positive: "lower"
    negates and swaps, so one rule reads every claim."""
    if direction not in DIRECTIONS:
        raise ValueError(f"claim direction {direction!r} is not one of {DIRECTIONS}")
    if direction == "higher":
        return interval.estimate, interval.low, interval.high
    return -interval.estimate, -interval.high, -interval.low


def decide(interval: Interval, direction: str, min_effect: float, rejected: bool) -> Outcome:
    """The outcome of one comparison of a claim expecting ``subject - reference`` to be
    ``direction`` ("higher" | "lower") by at least ``min_effect``, from its interval at its
    Holm level, oriented by :func:`signed` to [lo, hi]. Checked in this order:

    - refuted, :data:`OPPOSITE`: rejected with a negative signed estimate;
    - refuted, :data:`TOO_SMALL`: hi < min_effect. The interval excludes every effect that
      matters on the expected side, so the claim, which is about such an effect, is refuted:
      a significant but small effect refutes it too, and so does a tight interval around 0.
      Without this, a claim of a large effect could never be refuted by a null one;
    - supported, :data:`LARGE_ENOUGH`: rejected with a signed estimate >= min_effect;
    - inconclusive otherwise: the interval still contains min_effect (:data:`OPEN`), or there
      is none (:data:`NO_INTERVAL`).
    """
    estimate, _, high = signed(interval, direction)
    if rejected and estimate < 0:
        return Outcome("refuted", OPPOSITE)
    if high < min_effect:
        return Outcome("refuted", TOO_SMALL)
    if rejected and estimate >= min_effect:
        return Outcome("supported", LARGE_ENOUGH)
    return Outcome("inconclusive", NO_INTERVAL if math.isnan(high) else OPEN)
