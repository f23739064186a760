"""The robustness section of the report: tables and figures (claims 1, 2 and 4 of
docs/science.md are decided in :mod:`robsens.report.claims` from the endpoints params declares).

Reads ``results/metrics/*/seed*/robustness.json`` (and the clean metrics for the
rare-class accuracy axis of the robustness-sensitivity plane). Intervals are Student-t
over seeds for the tables and figures. Corruptions are shown grouped by family
(:data:`robsens.robustness.corruptions.FAMILIES`), where the family means and the corruption
error relative to the baseline's are tabled.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from robsens.core.io import save_figure
from robsens.core.stats import markdown_table, summarise
from robsens.report.curves import band_lines, curves_figure, rfs_lineplot, rfs_points
from robsens.report.figures import figure_markdown
from robsens.report.images import panel_grid
from robsens.report.tables import load_metrics, model_order, with_roles
from robsens.robustness.claims import RARE
from robsens.robustness.corruptions import by_family
from robsens.robustness.metrics import (
    RCE,
    family_means,
    family_metric,
    relative_corruption_error,
)

# The metrics the robust-training curves are read by (figure "curves"), clean ones first.
CURVE_METRICS = {"accuracy": "clean accuracy", "rare_accuracy": "rare-class accuracy",
                 "mean_corrupted_accuracy": "mean corrupted acc.", "mean_rfs": "mean RFS"}

COLUMNS = {
    "mean_corrupted_accuracy": "mean corrupted acc.",
    "mean_corrupted_rare_accuracy": "rare-class acc. under corruption",
    "mean_rfs": "mean RFS",
}


def per_severity(robust: pd.DataFrame) -> pd.DataFrame:
    """One row per model, seed, corruption and severity."""
    rows = [
        {"model": r.model, "seed": r.seed, "corruption": name, "severity": severity,
         "accuracy": acc, "rare_accuracy": rare}
        for r in robust.itertuples()
        for name, accs in r.accuracy.items()
        for severity, acc, rare in zip(r.severities, accs, r.rare_accuracy[name], strict=True)
    ]
    return pd.DataFrame(rows)


def per_sigma(robust: pd.DataFrame) -> pd.DataFrame:
    """One row per model, seed and RFS noise level."""
    return rfs_points((r.model, r.seed, r.rfs) for r in robust.itertuples())


def accuracy_by_severity(long: pd.DataFrame, level: float, path: Path) -> None:
    """Accuracy vs severity, one row of panels per corruption family (labelled on the left),
    one panel per corruption, one line per model (0 = clean).

    The means and t-intervals are computed once (``summarise``) and drawn by ``band_lines``:
    seaborn's ``relplot`` took twice as long for the 21 panels, re-aggregating each one."""
    stats = summarise(long, ["corruption", "model", "severity"], ["accuracy"], level)
    models = list(dict.fromkeys(long["model"]))
    colors = dict(zip(models, sns.color_palette(n_colors=len(models)), strict=True))
    families = list(by_family(long["corruption"].unique()).items())
    cols = max(len(names) for _, names in families)
    fig, axes = panel_grid(len(families) * cols, cols, (2.1, 1.9))
    panels = dict(list(stats.groupby("corruption", sort=False)))
    for row, (family, names) in enumerate(families):
        for col, ax in enumerate(axes[row * cols:(row + 1) * cols]):
            if col >= len(names):
                ax.set_axis_off()
                continue
            band_lines(ax, panels[names[col]], "severity", "accuracy", "model", colors)
            ax.set(title=names[col], ylim=(0, 1.02))
            # shared x: only panels with no panel below them keep their tick labels
            if row + 1 == len(families) or col >= len(families[row + 1][1]):
                ax.tick_params(labelbottom=True)
        axes[row * cols].set_ylabel(rf"$\bf{{{family}}}$" + "\naccuracy")
    fig.supxlabel("severity (0: clean)")
    fig.legend(*axes[0].get_legend_handles_labels(), title="model", loc="center left",
               bbox_to_anchor=(1, 0.5), frameon=False)
    fig.tight_layout()
    save_figure(path, fig, dpi=90, bbox_inches="tight")


def rfs_by_sigma(long: pd.DataFrame, level: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    rfs_lineplot(ax, long, level, "std of the Gaussian noise on one region",
                 "RFS (> 0: relies on the centre digit)")
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def plane(points: pd.DataFrame, path: Path) -> None:
    """Robustness-sensitivity plane: the noise-curve models as one curve (along their curve
    parameter), every other model a point; error bars are the t-intervals over seeds."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    noise = points[points["role"] == "noise_curve"].sort_values("curve", kind="stable")
    if not noise.empty:
        ax.plot(noise["x"], noise["y"], "-", color="0.4", zorder=1,
                label=f"noise curve (by {noise['curve_param'].iloc[0]})")
    for i, p in enumerate(points.itertuples()):
        on_curve = p.role == "noise_curve"
        color = "0.4" if on_curve else sns.color_palette("tab10")[i % 10]
        ax.errorbar(p.x, p.y, xerr=np.nan_to_num(p.x_ci), yerr=np.nan_to_num(p.y_ci), fmt="o",
                    color=color, capsize=3, zorder=2, label=None if on_curve else p.model)
        if on_curve:
            ax.annotate(f"{p.curve_param}={p.curve:g}", (p.x, p.y), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
    ax.set(xlabel="mean corrupted accuracy (robustness)",
           ylabel="clean rare-class accuracy, classes 10-14 (sensitivity)")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def plane_points(summary: pd.DataFrame, clean: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Per model: mean corrupted accuracy (x) and clean rare-class accuracy (y), with CIs, the
    other robustness summaries and the model's role (:func:`robsens.report.tables.with_roles`)."""
    y = summarise(clean, ["model", "method"], [RARE], params["report"]["ci_level"])
    points = with_roles(params, summary.merge(y[["model", RARE, f"{RARE}_ci"]], on="model"))
    return points.assign(
        x=points["mean_corrupted_accuracy"], x_ci=points["mean_corrupted_accuracy_ci"],
        y=points[RARE], y_ci=points[f"{RARE}_ci"],
    )


def _pivot_markdown(table: pd.DataFrame) -> str:
    """``table`` as Markdown: its index levels as the first columns, values to 3 decimals."""
    keys = list(table.index.names)
    lines = ["| " + " | ".join([*keys, *table.columns]) + " |",
             "|" + "---|" * (len(keys) + len(table.columns))]
    lines += ["| " + " | ".join([*(key if isinstance(key, tuple) else (key,)),
                                 *(f"{v:.3f}" for v in row)]) + " |"
              for key, row in table.iterrows()]
    return "\n".join(lines)


def per_family(params: dict, robust: pd.DataFrame) -> pd.DataFrame:
    """One row per model and seed: the mean corrupted accuracy of each family
    (:func:`robsens.robustness.metrics.family_means` of the per-corruption accuracies, which
    the relative error reads too) and the corruption error relative to the seed's baseline."""
    means = pd.DataFrame([family_means(accuracy) for accuracy in robust["accuracy"]],
                         index=robust.index)
    return robust[["model", "method", "seed"]].join(means).assign(
        **{RCE: relative_corruption_error(with_roles(params, robust), robust)})


def robustness_section(params: dict, fig_dir: Path) -> tuple[str, dict]:
    robust = load_metrics(params, "robustness")
    if robust.empty:
        return "## Robustness\n\nNo robustness metrics yet.\n", {}
    robust = model_order(params, robust)
    clean = model_order(params, load_metrics(params, "clean"))
    level = params["report"]["ci_level"]
    summary = summarise(robust, ["model", "method"], list(COLUMNS), level)

    long = per_severity(robust)
    if not clean.empty:
        at_zero = clean[["model", "seed", "accuracy", "rare_accuracy"]].assign(
            corruption=[list(long["corruption"].unique())] * len(clean), severity=0
        ).explode("corruption")
        long = pd.concat([at_zero, long], ignore_index=True)
    accuracy_by_severity(long, level, fig_dir / "corrupted_accuracy.png")
    rfs_by_sigma(per_sigma(robust), level, fig_dir / "rfs.png")
    families = by_family(long["corruption"].unique())
    order = pd.MultiIndex.from_tuples(
        [(family, name) for family, names in families.items() for name in names],
        names=["family", "corruption"])
    by_corruption = (
        long[long["severity"] > 0]
        .pivot_table(index="corruption", columns="model", values="accuracy", sort=False)
        .reindex(index=order.get_level_values("corruption"), columns=list(summary["model"]))
        .set_axis(order, axis=0)
    )
    family_columns = {family_metric(family): family for family in families}
    family_columns[RCE] = "relative corruption error (mCE)"
    family_summary = summarise(per_family(params, robust), ["model", "method"],
                               list(family_columns), level)

    cfg = params["robustness"]
    text = [
        "## Robustness to corruptions and relative foreground sensitivity\n",
        f"{len(cfg['corruptions'])} corruptions x severities 1-5 of {robust['n_images'].iloc[0]} "
        f"test images (seeded subset, seed {cfg['seed']}; parameters in the README). Mean "
        "corrupted accuracy and rare-class accuracy under corruption are unweighted means over "
        "corruptions and severities. RFS = (a_bg - a_fg) / (2 min(a, 1 - a)), a = (a_fg + a_bg) "
        "/ 2, with Gaussian noise of std "
        f"{', '.join(map(str, cfg['rfs_sigmas']))} ({cfg['rfs_noise'].replace('_', ' ')}, "
        f"{cfg['rfs_draws']} draw(s) per level, accuracy "
        f"{'balanced over classes' if cfg['rfs_balanced'] else 'over images'}) on the "
        "centre-digit region only (a_fg) or the corner region only (a_bg); mean RFS averages "
        "those levels. "
        f"Mean ± {level:.0%} t-interval over seeds.\n",
        markdown_table(summary, COLUMNS, ["model", "method"]),
        f"\nPer corruption family ({', '.join(families)}; which corruption is in which: the "
        "per-corruption table below), the mean accuracy over the family's "
        "corruptions and severities 1-5; and the relative corruption error (Hendrycks & "
        "Dietterich's mCE): per corruption, the model's error summed over severities divided by "
        "the baseline's of the same seed, averaged over corruptions (baseline: 1; below 1: "
        "fewer errors under corruption). "
        f"Mean ± {level:.0%} t-interval over seeds.\n",
        markdown_table(family_summary, family_columns, ["model", "method"]),
        "\nMean accuracy over severities 1-5 (and seeds), per corruption:\n",
        _pivot_markdown(by_corruption),
        "", figure_markdown("corrupted_accuracy"), figure_markdown("rfs"),
    ]
    if not clean.empty:
        plane(plane_points(summary, clean, params), fig_dir / "robustness_sensitivity_plane.png")
        text.append(figure_markdown("robustness_sensitivity_plane"))
        per_seed = with_roles(params, robust[["model", "seed", *COLUMNS]].merge(
            clean[["model", "seed", "accuracy", RARE]], on=["model", "seed"]))
        if curves_figure(per_seed, CURVE_METRICS, level, fig_dir / "curves.png"):
            text.append(figure_markdown("curves"))
    metrics = {row["model"]: {c: row[c] for c in COLUMNS} for _, row in summary.iterrows()}
    return "\n".join(text), {"robustness": metrics}
