"""The robustness section of the report: tables, figures and claims 1, 2 and 4 of science.md.

Reads ``results/metrics/*/seed*/robustness.json`` (and the clean metrics for the
rare-class accuracy axis of the robustness-sensitivity plane). Intervals are Student-t
over seeds, as everywhere in the report.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from robsens.core.io import save_figure
from robsens.core.stats import fmt_ci, markdown_table, summarise, t_errorbar
from robsens.report.tables import load_metrics, model_order

NOISE_METHOD = "noise_aug"
ADV_METHODS = ("adv_linf", "adv_l2")
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
    return pd.DataFrame(
        [{"model": r.model, "seed": r.seed, "sigma": s, "rfs": v}
         for r in robust.itertuples() for s, v in zip(r.rfs["sigma"], r.rfs["rfs"], strict=True)]
    )


def accuracy_by_severity(long: pd.DataFrame, level: float, path: Path) -> None:
    """Accuracy vs severity, one panel per corruption, one line per model (0 = clean)."""
    grid = sns.relplot(long, x="severity", y="accuracy", hue="model", col="corruption",
                       col_wrap=7, kind="line", marker="o", errorbar=t_errorbar(level),
                       err_kws={"alpha": 0.12}, height=1.9, aspect=1.1,
                       facet_kws={"ylim": (0, 1.02)})
    grid.set_titles("{col_name}")
    grid.set_axis_labels("severity (0: clean)", "accuracy")
    save_figure(path, grid.figure, dpi=90)
    plt.close(grid.figure)


def rfs_by_sigma(long: pd.DataFrame, level: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(long, x="sigma", y="rfs", hue="model", marker="o", errorbar=t_errorbar(level),
                 err_kws={"alpha": 0.12}, ax=ax)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="std of the Gaussian noise on one region", ylim=(-1.02, 1.02),
           ylabel="RFS (> 0: relies on the centre digit)")
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def plane(points: pd.DataFrame, path: Path) -> None:
    """Robustness-sensitivity plane: noise-augmentation models as one curve (by sigma),
    every other model a point; error bars are the t-intervals over seeds."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    noise = points[points["method"] == NOISE_METHOD].sort_values("sigma")
    if not noise.empty:
        ax.plot(noise["x"], noise["y"], "-", color="0.4", zorder=1, label="noise aug. (by σ)")
    for i, p in enumerate(points.itertuples()):
        color = "0.4" if p.method == NOISE_METHOD else sns.color_palette("tab10")[i % 10]
        ax.errorbar(p.x, p.y, xerr=np.nan_to_num(p.x_ci), yerr=np.nan_to_num(p.y_ci), fmt="o",
                    color=color, capsize=3, zorder=2,
                    label=None if p.method == NOISE_METHOD else p.model)
        if p.method == NOISE_METHOD:
            ax.annotate(f"σ={p.sigma:g}", (p.x, p.y), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
    ax.set(xlabel="mean corrupted accuracy (robustness)",
           ylabel="clean rare-class accuracy, classes 10-14 (sensitivity)")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def plane_points(summary: pd.DataFrame, clean: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Per model: mean corrupted accuracy (x) and clean rare-class accuracy (y), with CIs."""
    y = summarise(clean, ["model", "method"], ["rare_accuracy"], params["report"]["ci_level"])
    points = summary.merge(y[["model", "rare_accuracy", "rare_accuracy_ci"]], on="model")
    return points.assign(
        x=points["mean_corrupted_accuracy"], x_ci=points["mean_corrupted_accuracy_ci"],
        y=points["rare_accuracy"], y_ci=points["rare_accuracy_ci"],
        sigma=[params["models"][m].get("sigma", np.nan) for m in points["model"]],
    )


def _pivot_markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join([table.index.name, *table.columns]) + " |",
             "|" + "---|" * (len(table.columns) + 1)]
    lines += [f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
              for name, row in table.iterrows()]
    return "\n".join(lines)


def _cell(points: pd.DataFrame, model: str, col: str) -> str:
    row = points[points["model"] == model].iloc[0]
    return fmt_ci(row[col], row[f"{col}_ci"])


def curve_at(xs: np.ndarray, ys: np.ndarray, x: float) -> float:
    """Highest y of the polyline (xs, ys), in the given order, where it crosses ``x``; NaN if
    it never does. The noise curve, in sigma order, need not be monotone in x."""
    hits = [y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 != x0 else max(y0, y1)
            for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:], strict=True)
            if min(x0, x1) <= x <= max(x0, x1)]
    return max(hits, default=math.nan)


def claims(points: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Claims 1, 2 and 4 of science.md section 7, checked against the numbers."""
    by = points.set_index("model")
    methods = dict(zip(points["model"], points["method"], strict=True))
    erm = next((m for m, k in methods.items() if k == "erm"), None)
    noise = points[points["method"] == NOISE_METHOD].sort_values("sigma")
    fcl = next((m for m, k in methods.items() if k == "fcl"), None)
    out = []
    if erm and not noise.empty:
        top = noise.iloc[-1]
        d_rob, d_rare = top.x - by.loc[erm, "x"], top.y - by.loc[erm, "y"]
        verdict = "holds" if d_rob > 0 and d_rare < 0 else "does not hold"
        out.append(
            "- **Claim 1** (strong noise augmentation: more corruption robustness, less "
            f"rare-class accuracy): {top.model} vs {erm}: mean corrupted accuracy {d_rob:+.3f}, "
            f"clean rare-class accuracy {d_rare:+.3f}, so the claim **{verdict}** here (corner "
            "sensitivity under centres 0-4: see the sensitivity section)."
        )
    if erm and fcl and not noise.empty:
        f, e = by.loc[fcl], by.loc[erm]
        best = noise.loc[noise["x"].idxmax()]  # the most robust noise model
        gain = (f.x - e.x) / (best.x - e.x) if best.x > e.x else math.nan
        curve_y = curve_at(noise["x"].to_numpy(), noise["y"].to_numpy(), f.x)
        if math.isnan(curve_y):
            where = ("FCL's corrupted accuracy is outside the range the noise curve spans, so the "
                     "curve cannot be compared at the same robustness")
        else:
            where = (f"the noise curve reaches rare-class accuracy at most {curve_y:.3f} at the "
                     f"same corrupted accuracy, so FCL lies "
                     f"**{'above' if f.y > curve_y else 'below'}** it")
        out.append(
            f"- **Claim 2** (FCL keeps rare-class accuracy near ERM's and gains much of the "
            f"robustness): rare-class accuracy {_cell(points, fcl, 'y')} vs ERM "
            f"{_cell(points, erm, 'y')}; FCL gains {gain:.0%} of the corrupted-accuracy gain of "
            f"the most robust noise model ({best.model}) over ERM; {where}."
        )
    rfs = summary.set_index("model")
    adv = [m for m, k in methods.items() if k in ADV_METHODS]
    if erm and adv:
        parts = []
        for m in adv:
            lower = rfs.loc[m, "mean_rfs"] < rfs.loc[erm, "mean_rfs"]
            parts.append(f"{m} {fmt_ci(rfs.loc[m, 'mean_rfs'], rfs.loc[m, 'mean_rfs_ci'])} "
                         f"({'lower' if lower else 'not lower'})")
        out.append(
            f"- **Claim 4** (adversarial training lowers RFS): mean RFS of ERM "
            f"{fmt_ci(rfs.loc[erm, 'mean_rfs'], rfs.loc[erm, 'mean_rfs_ci'])}; "
            + "; ".join(parts) + ". Overlapping intervals mean the seeds cannot separate them."
        )
    return out


def robustness_section(params: dict, fig_dir: Path) -> tuple[str, dict]:
    robust = load_metrics("robustness")
    if robust.empty:
        return "## Robustness\n\nNo robustness metrics yet.\n", {}
    robust = model_order(params, robust)
    clean = model_order(params, load_metrics("clean"))
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
    by_corruption = (
        long[long["severity"] > 0]
        .pivot_table(index="corruption", columns="model", values="accuracy", sort=False)
        .reindex(columns=list(summary["model"]))
    )

    cfg = params["robustness"]
    text = [
        "## Robustness to corruptions and relative foreground sensitivity\n",
        f"{len(cfg['corruptions'])} corruptions x severities 1-5 of {robust['n_images'].iloc[0]} "
        f"test images (seeded subset, seed {cfg['seed']}; parameters in the README). Mean "
        "corrupted accuracy and rare-class accuracy under corruption are unweighted means over "
        "corruptions and severities. RFS = (a_bg - a_fg) / (2 min(a, 1 - a)), a = (a_fg + a_bg) "
        "/ 2, with Gaussian noise of std "
        f"{', '.join(map(str, cfg['rfs_sigmas']))} on the centre-digit region only (a_fg) or the "
        "corner region only (a_bg); mean RFS averages those levels. "
        f"Mean ± {level:.0%} t-interval over seeds.\n",
        markdown_table(summary, COLUMNS, ["model", "method"]),
        "\nMean accuracy over severities 1-5 (and seeds), per corruption:\n",
        _pivot_markdown(by_corruption),
        "\n![accuracy vs severity](figures/corrupted_accuracy.png)\n",
        "![RFS vs noise level](figures/rfs.png)\n",
    ]
    if not clean.empty:
        points = plane_points(summary, clean, params)
        plane(points, fig_dir / "robustness_sensitivity_plane.png")
        checked = claims(points, summary) or [
            "Claims 1, 2 and 4 need ERM with noise-augmentation, FCL or adversarial models; "
            "none of those were evaluated."
        ]
        text += ["![robustness-sensitivity plane](figures/robustness_sensitivity_plane.png)\n",
                 "\n".join(checked) + "\n"]
    metrics = {row["model"]: {c: row[c] for c in COLUMNS} for _, row in summary.iterrows()}
    return "\n".join(text), {"robustness": metrics}
