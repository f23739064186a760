"""Figures of the linear study, drawn from ``sweep.csv`` alone (no solver runs here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from robsens.core.io import load_json, save_figure
from robsens.linear.claims import THRESHOLD
from robsens.linear.study import SUMMARY_JSON, SWEEP_CSV

ATTACK_LABEL = {"l1": r"$\ell_1$ attack", "l2": r"$\ell_2$ attack", "linf": r"$\ell_\infty$ attack"}
EPS_LABEL = r"$\epsilon / \epsilon_{null}$"
RATIO_LABEL = r"$\rho\sigma_s/\sigma_c$"


def _grid(rows: int, cols: int) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def reliance_vs_eps(df: pd.DataFrame) -> Figure:
    """Population reliance per attack norm, one curve per rho sigma_s / sigma_c."""
    pop = df[(df["source"] == "population") & (df["test_shift"] == "same")]
    attacks = list(pop["attack"].unique())
    fig, axes = _grid(1, len(attacks))
    for ax, attack in zip(axes[0], attacks, strict=True):
        sub = pop[pop["attack"] == attack].replace(np.inf, np.nan)
        sns.lineplot(sub, x="eps_rel", y="reliance", hue="rho_sigma_ratio", palette="viridis",
                     marker="o", markersize=3, ax=ax, legend=ax is axes[0, -1])
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set(title=ATTACK_LABEL[attack], xlabel=EPS_LABEL, ylim=(0, None),
               ylabel=r"reliance $\|w_s\|_2/\|w_c\|_2$")
    axes[0, -1].legend(title=RATIO_LABEL, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.suptitle("Population optimum: spurious reliance (gaps: w_c = 0, reliance infinite)")
    return fig


def linf_phase_diagram(df: pd.DataFrame, zero_tol: float) -> Figure:
    """||w_s|| of the population l_inf optimum over (rho sigma_s / sigma_c, eps); zeros grey."""
    pop = df[(df["source"] == "population") & (df["test_shift"] == "same")
             & (df["attack"] == "linf")]
    fig, axes = _grid(1, 1)
    ax = axes[0, 0]
    if pop.empty:
        ax.text(0.5, 0.5, "l_inf attack not swept (linear.sweep.attacks)", ha="center")
        return fig
    table = pop.pivot_table(index="eps_rel", columns="rho_sigma_ratio", values="w_spur_norm")
    values = np.ma.masked_less_equal(table.to_numpy(), zero_tol)
    ax.set_facecolor("0.85")
    mesh = ax.pcolormesh(table.columns, table.index, values, shading="nearest", cmap="magma",
                         norm=LogNorm(vmin=values.min(), vmax=values.max()))
    fig.colorbar(mesh, ax=ax, label=rf"$\|w_s\|_2$ (grey: $\leq$ {zero_tol:.0e}, i.e. 0)")
    ax.axvline(THRESHOLD, color="tab:cyan", linestyle="--",
               label=r"theory: $\rho\sigma_s=\sigma_c$")
    ax.set(xlabel=RATIO_LABEL, ylabel=EPS_LABEL,
           title=r"$\ell_\infty$ adversarial training: spurious weight")
    ax.legend(loc="center left")
    return fig


def _finite_ratios(df: pd.DataFrame) -> list[float]:
    return sorted(df.loc[df["source"] == "finite", "rho_sigma_ratio"].unique())


def _lines(ax: Any, df: pd.DataFrame, y: str, hue: str, palette: dict, *, style: str = "line",
           legend: bool = False) -> None:
    """``y`` against eps_rel, one series per value of ``hue``: the mean over the rows at each
    eps (the seeds of finite-sample fits; the one population row) with ± one sd, as a band
    (style "band"), as error bars on dots ("dots"), or not at all ("line"). Drawn directly:
    seaborn's lineplot re-aggregated every panel and took about twice as long."""
    for value, group in df.groupby(hue, sort=False):
        stats = group.groupby("eps_rel")[y].agg(["mean", "std"])
        # one row at an eps (the population): no spread; a NaN mean stays a gap in the line
        eps, mean, sd, colour = stats.index, stats["mean"], stats["std"].fillna(0.0), palette[value]
        if style == "dots":
            ax.errorbar(eps, mean, yerr=sd, fmt="o", markersize=4, color=colour, label=value)
            continue
        ax.plot(eps, mean, color=colour, label=value)
        if style == "band":
            ax.fill_between(eps, mean - sd, mean + sd, color=colour, alpha=0.2, lw=0)
    if legend:
        ax.legend(title=hue, fontsize=7)


def shifted_mse_vs_eps(df: pd.DataFrame) -> Figure:
    """Test MSE under each test-time rho: population lines, largest-n finite-sample markers."""
    ratios, attacks = _finite_ratios(df), list(df["attack"].unique())
    fin = df[(df["source"] == "finite") & (df["n_train"] == df["n_train"].max())]
    pop = df[df["source"] == "population"]
    shifts = list(df["test_shift"].unique())
    palette = dict(zip(shifts, sns.color_palette(n_colors=len(shifts)), strict=True))
    fig, axes = _grid(len(ratios), len(attacks))
    for i, ratio in enumerate(ratios):
        for j, attack in enumerate(attacks):
            ax = axes[i, j]
            cell = (pop["rho_sigma_ratio"] == ratio) & (pop["attack"] == attack)
            _lines(ax, pop[cell], "test_mse", "test_shift", palette, legend=(i, j) == (0, 0))
            cell = (fin["rho_sigma_ratio"] == ratio) & (fin["attack"] == attack)
            _lines(ax, fin[cell], "test_mse", "test_shift", palette, style="dots")
            ax.set(title=f"{ATTACK_LABEL[attack]}, {RATIO_LABEL}={ratio:.2g}", xlabel=EPS_LABEL,
                   ylabel="test MSE")
    n_max = int(fin["n_train"].max())
    fig.suptitle(f"Test MSE after a shift of rho (lines: population; dots: n={n_max}, mean ± sd)")
    return fig


def population_vs_finite(df: pd.DataFrame) -> Figure:
    """||w_s|| of finite-sample training (mean ± sd over seeds, per n) against the population."""
    ratios, attacks = _finite_ratios(df), list(df["attack"].unique())
    same = df[df["test_shift"] == "same"]
    same = same.assign(fit=np.where(same["source"] == "population", "population",
                                    "n=" + same["n_train"].fillna(0).astype(int).astype(str)))
    sizes = sorted(same.loc[same["source"] == "finite", "n_train"].unique())
    colours = sns.color_palette("flare", len(sizes))
    palette = dict(zip([f"n={int(n)}" for n in sizes], colours, strict=True))
    palette["population"] = "black"
    fig, axes = _grid(len(ratios), len(attacks))
    for i, ratio in enumerate(ratios):
        for j, attack in enumerate(attacks):
            ax = axes[i, j]
            sub = same[(same["rho_sigma_ratio"] == ratio) & (same["attack"] == attack)]
            _lines(ax, sub, "w_spur_norm", "fit", palette, style="band", legend=(i, j) == (0, 0))
            ax.set(title=f"{ATTACK_LABEL[attack]}, {RATIO_LABEL}={ratio:.2g}", xlabel=EPS_LABEL,
                   ylabel=r"$\|w_s\|_2$")
    fig.suptitle("Spurious weight: population optimum vs finite-sample adversarial training")
    return fig


FIGURES = (
    "linear_reliance.png",
    "linear_phase_linf.png",
    "linear_shift_mse.png",
    "linear_population_vs_finite.png",
)


def make_linear_figures(results_dir: Path, figures_dir: Path) -> None:
    """Write every ``reports/figures/linear_*.png`` from the sweep table."""
    df = pd.read_csv(Path(results_dir) / SWEEP_CSV)
    zero_tol = float(load_json(Path(results_dir) / SUMMARY_JSON)["config"]["verdict"]["zero_tol"])
    drawn = (reliance_vs_eps(df), linf_phase_diagram(df, zero_tol), shifted_mse_vs_eps(df),
             population_vs_finite(df))
    for name, fig in zip(FIGURES, drawn, strict=True):
        save_figure(Path(figures_dir) / name, fig, dpi=120)
