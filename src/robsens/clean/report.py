"""The report's clean-evaluation section: accuracy, rare-class accuracy, probe flip rates."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from robsens.core.io import save_figure
from robsens.core.stats import markdown_table, summarise, t_errorbar
from robsens.report.figures import figure_markdown
from robsens.report.tables import load_metrics, model_order

CLEAN_COLUMNS = {"accuracy": "clean acc.", "rare_accuracy": "rare-class acc. (10-14)",
                 "flip_rate_centre_0_4": "probe flip rate, centre 0-4 (want high)",
                 "flip_rate_centre_5_9": "probe flip rate, centre 5-9 (want low)"}


def per_class_accuracy(clean: pd.DataFrame, level: float, path: Path) -> None:
    """Bar per class and model; error bars are the report's t-interval over seeds."""
    long = clean.explode("per_class_accuracy").assign(
        cls=lambda d: d.groupby(["model", "seed"]).cumcount(),
        acc=lambda d: d["per_class_accuracy"].astype(float))
    fig, ax = plt.subplots(figsize=(12, 4))
    sns.barplot(long, x="cls", y="acc", hue="model", errorbar=t_errorbar(level), ax=ax)
    ax.axvspan(9.5, 14.5, color="0.9", zorder=0)
    ax.set(xlabel="class (shaded: rare classes 10-14)", ylabel="test accuracy", ylim=(0, 1.02))
    ax.legend(ncol=4, fontsize=8, loc="lower left")
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def clean_section(params: dict, fig_dir: Path) -> tuple[str, dict]:
    clean = model_order(params, load_metrics(params, "clean"))
    if clean.empty:
        return "## Clean evaluation\n\nNo evaluated models yet.\n", {}
    per_class_accuracy(clean, params["report"]["ci_level"],
                               fig_dir / "per_class_accuracy.png")
    summary = summarise(clean, ["model", "method"], list(CLEAN_COLUMNS),
                        params["report"]["ci_level"])
    text = (
        "## Clean evaluation\n\n"
        f"Mean ± {params['report']['ci_level']:.0%} t-interval over seeds (no interval with one "
        "seed). The paired probe shows the same test centre digits with and without a corner "
        "digit: under a centre 0-4 the corner changes the label, so flipping is correct; under "
        "5-9 it carries no information. The flip rates are the prediction-level counterpart of "
        "the context selectivity of the sensitivity section (claim 3), which refers here.\n\n"
        + markdown_table(summary, CLEAN_COLUMNS, ["model", "method"])
        + "\n\n" + figure_markdown("per_class_accuracy")
    )
    metrics = {row["model"]: {c: row[c] for c in CLEAN_COLUMNS} for _, row in summary.iterrows()}
    return text, {"clean": metrics}
