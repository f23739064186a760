"""Figures of the clean study (seaborn); written atomically under reports/figures/."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from robsens.io import save_figure
from robsens.stats import t_errorbar


def data_grid(split: dict[str, np.ndarray], per_class: int, path: Path) -> None:
    """Examples per centre digit, without and with a corner digit, titled by class."""
    fig, axes = plt.subplots(10, 2 * per_class, figsize=(2 * per_class * 0.9, 10 * 0.95))
    for digit in range(10):
        for col, with_corner in enumerate((False, True)):
            idx = np.flatnonzero((split["centre"] == digit) & (split["corner"] == with_corner))
            for j in range(per_class):
                ax = axes[digit, col * per_class + j]
                ax.axis("off")
                if j < len(idx):
                    ax.imshow(split["x"][idx[j]], cmap="gray", vmin=0, vmax=255)
                    ax.set_title(f"class {split['y'][idx[j]]}", fontsize=7)
    fig.suptitle(f"Test examples per centre digit: left {per_class} without a corner digit, "
                 f"right {per_class} with one (centre 0-4 + corner = rare class 10-14)")
    fig.tight_layout()
    save_figure(path, fig, dpi=90)
    plt.close(fig)


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
