"""Robust training read as curves: each metric along the noise sigma and along each attack
norm's radius, the baseline drawn at 0 (docs/science.md section 7, claims 1 and 4: effects that
grow with the strength of the training).

A curve is a role of :data:`robsens.methods.CURVE_ROLES` and, for adversarial training, one
attack norm; its models are ordered by their curve parameter. Every study whose per-seed
table carries the role columns (:func:`robsens.report.tables.with_roles`) draws its curves
with :func:`curves_figure`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from robsens.core.io import save_figure
from robsens.core.stats import mean_ci, summarise
from robsens.methods import CURVE_ROLES


def curve_points(table: pd.DataFrame, metrics: Mapping[str, str], level: float
                 ) -> pd.DataFrame:
    """One row per curve, point and metric: the curve's label, the curve parameter's value
    (0 for the baseline, which starts every curve), the model, and the mean and interval
    half-width over seeds."""
    rows = []
    baseline = table[table["role"] == "baseline"]
    for (role, norm), models in table[table["role"].isin(CURVE_ROLES)].groupby(
            ["role", table["norm"].fillna("")], sort=False):
        param = models["curve_param"].iloc[0]
        label = f"{role.replace('_', ' ')}{f' ({norm})' if norm else ''}, by {param}"
        for curve, rows_at in pd.concat([baseline.assign(curve=0.0), models]).groupby(
                "curve", sort=True):
            for metric in metrics:
                if metric in rows_at:
                    mean, half = mean_ci(rows_at[metric].astype(float).dropna(), level)
                    rows.append({"curve_label": label, "x": curve, "metric": metric,
                                 "model": rows_at["model"].iloc[0], "mean": mean,
                                 "ci": half})
    return pd.DataFrame(rows, columns=["curve_label", "x", "metric", "model", "mean", "ci"])


def curves_figure(table: pd.DataFrame, metrics: Mapping[str, str], level: float, path: Path
                  ) -> bool:
    """A grid: one row per metric (labelled by ``metrics``' values), one column per curve;
    mean and t-interval over seeds at each point. False (nothing drawn) when the study has
    no curve."""
    points = curve_points(table, metrics, level)
    if points.empty:
        return False
    curves = list(dict.fromkeys(points["curve_label"]))
    shown = [m for m in metrics if m in set(points["metric"])]
    fig, axes = plt.subplots(len(shown), len(curves), squeeze=False, sharey="row",
                             figsize=(2.9 * len(curves) + 0.8, 2.1 * len(shown) + 0.5))
    for j, curve in enumerate(curves):
        for i, metric in enumerate(shown):
            ax = axes[i][j]
            at = points[(points["curve_label"] == curve) & (points["metric"] == metric)]
            ax.errorbar(at["x"], at["mean"], yerr=at["ci"].fillna(0), fmt="o-", capsize=3,
                        color="C0" if "noise" in curve else "C3")
            if i == 0:
                ax.set_title(curve, fontsize=9)
            if i == len(shown) - 1:
                ax.set_xlabel(curve.rsplit("by ", 1)[-1] + " (0: baseline)")
            if j == 0:
                ax.set_ylabel(metrics[metric], fontsize=8)
    fig.tight_layout()
    save_figure(path, fig, dpi=100)
    plt.close(fig)
    return True


def rfs_points(curves: Iterable[tuple[str, int, Mapping[str, list[float]]]]) -> pd.DataFrame:
    """One row per model, seed and noise level from ``(model, seed, curve)`` triples, each
    curve an RFS record (``{"sigma": [...], "rfs": [...]}``) as both image studies store it."""
    return pd.DataFrame([{"model": model, "seed": seed, "sigma": s, "rfs": v}
                         for model, seed, curve in curves
                         for s, v in zip(curve["sigma"], curve["rfs"], strict=True)])


def band_lines(ax, stats: pd.DataFrame, x: str, y: str, hue: str,
               colors: Mapping[str, Any] | None = None) -> None:
    """One line per value of ``hue``: the mean ``y`` against ``x``, with its interval
    half-width ``<y>_ci`` (:func:`robsens.core.stats.summarise`) as a band; NaN (one seed) draws
    no band. The report's means and intervals are computed once by ``summarise``, not by the
    plotting library per panel (seaborn's lineplot re-aggregated each panel and line)."""
    for value, line in stats.groupby(hue, sort=False):
        mean, half = line[y], line[f"{y}_ci"].fillna(0.0)
        (drawn,) = ax.plot(line[x], mean, marker="o", markersize=3, lw=1, label=value,
                           color=None if colors is None else colors[value])
        ax.fill_between(line[x], mean - half, mean + half, color=drawn.get_color(), alpha=0.12,
                        lw=0)


def rfs_lineplot(ax, points: pd.DataFrame, level: float, xlabel: str, ylabel: str) -> None:
    """RFS against the noise level, one line per model with its t-interval over seeds, and
    the zero line (RFS > 0: the foreground is what the model relies on)."""
    band_lines(ax, summarise(points, ["model", "sigma"], ["rfs"], level), "sigma", "rfs",
               "model")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.legend(title="model", fontsize=8)
    ax.set(ylim=(-1.02, 1.02), xlabel=xlabel, ylabel=ylabel)
