"""Aggregation over seeds: mean and a Student-t confidence interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


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
