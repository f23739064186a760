"""The spurious-background study's section of reports/results.md: a table per model, the data,
accuracy under each cue with the RFS curves, and cue reliance and RFS along the attack radius.

Reads ``results/spurious/metrics/*/seed*/spurious.json``; claim 4 is decided from the same
numbers in :mod:`robsens.report.claims` (the endpoints params declares).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from robsens.core.io import load_json, save_figure
from robsens.core.stats import markdown_table, summarise, t_errorbar
from robsens.data.corner import load_split
from robsens.pipeline import paths
from robsens.report.curves import curves_figure, rfs_lineplot, rfs_points
from robsens.report.figures import figure_markdown
from robsens.report.images import colour, mosaic_figure
from robsens.report.tables import load_metrics, model_order, with_roles
from robsens.spurious.data import NUM_CLASSES, REVERSED_SHIFT

COLUMNS = {
    "spurious_accuracy": "acc., cue agrees (p)",
    "spurious_accuracy_independent": "acc., cue independent",
    "spurious_accuracy_reversed": "acc., cue reversed",
    "spurious_cue_reliance": "cue reliance (agrees − reversed)",
    "spurious_cue_following": "reversed: predicts the cue's class",
    "spurious_mean_rfs_equal_energy": "mean RFS, equal energy",
    "spurious_mean_rfs_per_pixel": "mean RFS, per-pixel σ",
}
# What the spurious study reads along the attack radius (figure "spurious_along_eps").
CURVE_METRICS = {"spurious_cue_reliance": COLUMNS["spurious_cue_reliance"],
                 "spurious_mean_rfs": "mean RFS (spurious.rfs.noise)"}
CONDITIONS = {"spurious_accuracy": "agrees (test)",
              "spurious_accuracy_independent": "independent",
              "spurious_accuracy_reversed": "reversed"}


def examples(fig_dir: Path) -> None:
    """One test digit per class with its cue agreeing, independent and reversed."""
    splits = {name: load_split(paths.SPURIOUS.data_dir, name)
              for name in paths.SPURIOUS_TEST_SPLITS}
    y = splits["test"]["y"].numpy()
    picks = [int(np.flatnonzero(y == c)[0]) for c in range(NUM_CLASSES) if (y == c).any()]
    tiles = np.stack([colour(split["x"][picks, 0].numpy(), "gray", 0, 1)
                      for split in splits.values()])
    titles = np.array([[f"y={y[i]} cue={int(split['cue'][i])}" for i in picks]
                       for split in splits.values()], dtype=object)
    labels = [name.removeprefix("test_") if row else "test" for row, name in enumerate(splits)]
    fig = mosaic_figure(tiles, titles=titles, row_labels=labels, inches_per_px=0.035)
    save_figure(fig_dir / "spurious_examples.png", fig, dpi=100, bbox_inches="tight")


def accuracy_and_rfs(df: pd.DataFrame, level: float, path: Path) -> None:
    """Accuracy under each cue condition per model, and RFS against sigma for both noise kinds;
    error bars are the t-intervals over seeds."""
    acc = df.melt(id_vars=["model", "seed"], value_vars=list(CONDITIONS), var_name="cue",
                  value_name="accuracy").replace({"cue": CONDITIONS})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    sns.barplot(acc, x="model", y="accuracy", hue="cue", errorbar=t_errorbar(level),
                ax=axes[0])
    axes[0].set(ylim=(0, 1.02), title="accuracy by background cue")
    for ax, kind in zip(axes[1:], ("equal_energy", "per_pixel"), strict=True):
        points = rfs_points((r.model, r.seed, r.spurious_rfs[kind]) for r in df.itertuples())
        rfs_lineplot(ax, points, level, "noise level σ", "RFS (< 0: relies on the background)")
        ax.set(title=f"RFS, {kind.replace('_', ' ')} noise")
    fig.tight_layout()
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def spurious_section(params: dict, fig_dir: Path) -> tuple[str, dict]:
    """Table, figures and the headline numbers (summary.json: ``spurious.<model>.<metric>``)."""
    title = "## Spurious-background study (docs/science.md section 8)\n"
    df = load_metrics(params, "spurious", paths.SPURIOUS)
    if df.empty:
        return f"{title}\nNo evaluated models yet.\n", {}
    df = model_order(params, df)
    level = params["report"]["ci_level"]
    columns = [*COLUMNS, "spurious_mean_rfs"]
    summary = summarise(df, ["model", "method"], columns, level)
    examples(fig_dir)
    accuracy_and_rfs(df, level, fig_dir / "spurious_accuracy_rfs.png")
    drawn = curves_figure(with_roles(params, df), CURVE_METRICS, level,
                          fig_dir / "spurious_along_eps.png")
    cfg, manifest = params["spurious"], load_json(paths.SPURIOUS.manifest)
    rfs = cfg["rfs"]
    text = [
        title,
        f"Centre digits of 10 classes ({manifest['source']}) inside MNIST's 20x20 box, framed by a "
        "grating cue (10 families: 5 orientations x 2 periods, random phase, contrast "
        f"{cfg['data']['contrast']}). The cue's family is the label's with probability "
        f"{cfg['data']['agreement']} in training and in `test` (else another class's), uniform "
        "in `test_independent`, and always class (y + "
        f"{REVERSED_SHIFT}) mod {NUM_CLASSES}'s in `test_reversed`; the three test splits show "
        f"the same {df['n_images'].iloc[0]} digits. Models: "
        f"{', '.join(cfg['models'])}, trained on {cfg['data']['n_train']} images with the "
        "corner-digit study's methods and training settings. Cue reliance = accuracy(test) − "
        "accuracy(test_reversed). RFS on `test`: foreground the digit's box, background the "
        "frame, class-balanced accuracy, "
        f"{rfs['draws']} noise draw(s) per level σ in {', '.join(map(str, rfs['sigmas']))}; "
        "equal energy puts the l_2 energy of per-pixel σ noise over the whole image on either "
        f"region; claim 4 reads the {rfs['noise'].replace('_', ' ')} one. "
        f"Mean ± {level:.0%} t-interval over seeds.\n",
        markdown_table(summary, COLUMNS, ["model", "method"]), "",
        figure_markdown("spurious_examples"), figure_markdown("spurious_accuracy_rfs"),
        figure_markdown("spurious_along_eps") if drawn else "",
    ]
    metrics = {row["model"]: {c: row[c] for c in columns} for _, row in summary.iterrows()}
    return "\n".join(text), {"spurious": metrics}
