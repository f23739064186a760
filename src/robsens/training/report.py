"""The report's training section: how every model converged, and whether it may be compared.

One row per study x model x seed from ``history.json`` (:mod:`robsens.training.gates`):
epochs run, the best epoch (whose weights are the model), whether the convergence rule fired
before ``train.max_epochs``, FCL's contrastive term against its chance value and its gradient
share, and the gates it fails. The figure shows the validation curves by epoch, seeds as
bands, so a reader sees that every model had flattened where it stopped.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from robsens.core.io import save_figure
from robsens.core.stats import summarise
from robsens.report.curves import band_lines
from robsens.report.figures import figure_markdown
from robsens.training.gates import STUDIES, gate_table, histories

CURVES = {"val_loss": "validation loss (clean)", "val_accuracy": "validation accuracy"}


def curve_rows(params: dict) -> pd.DataFrame:
    """Every epoch of every model x seed of both studies, long form."""
    return pd.DataFrame([{"study": study.name, "model": h["model"], "seed": h["seed"],
                          "epoch": row["epoch"], **{k: row[k] for k in CURVES}}
                         for study in STUDIES for h in histories(params, study)
                         for row in h["epochs"]])


def curves_figure(rows: pd.DataFrame, level: float, path: Path) -> None:
    """Validation loss and accuracy by epoch: one column per study, one line per model, the
    band its interval over the seeds that ran that epoch."""
    studies = list(dict.fromkeys(rows["study"]))
    fig, axes = plt.subplots(len(CURVES), len(studies), figsize=(6 * len(studies), 6.5),
                             squeeze=False)
    for col, study in enumerate(studies):
        stats = summarise(rows[rows["study"] == study], ["model", "epoch"], list(CURVES),
                          level)
        for row, (metric, label) in enumerate(CURVES.items()):
            ax = axes[row, col]
            band_lines(ax, stats, "epoch", metric, "model")
            ax.set(xlabel="epoch", ylabel=label, title=f"{study} study" if row == 0 else "")
            if metric == "val_loss":
                ax.set_yscale("log")
        axes[0, col].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(path, fig, dpi=100)
    plt.close(fig)


def _cell(value: object, fmt: str) -> str:
    return "—" if value is None or value != value else format(value, fmt)


def training_section(params: dict, fig_dir: Path) -> tuple[str, dict]:
    gates = gate_table(params)
    if gates.empty:
        return "## Training and gates\n\nNo trained models yet.\n", {}
    curves_figure(curve_rows(params), params["report"]["ci_level"],
                  fig_dir / "training_curves.png")
    rule = params["train"]["convergence"]
    lines = ["| study | model | seed | converged | epochs run | best epoch | best val loss | "
             "best val acc. | FCL term / chance | FCL gradient share | gates failed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in gates.itertuples():
        ratio = (None if r.fcl is None or r.fcl != r.fcl else
                 f"{r.fcl:.3f} / {r.fcl_chance:.3f}")
        lines.append(f"| {r.study} | {r.model} | {r.seed} | {'yes' if r.converged else 'no'} "
                     f"| {r.epochs_run} | {r.best_epoch} | {_cell(r.val_loss, '.4f')} | "
                     f"{_cell(r.val_accuracy, '.3f')} | {ratio or '—'} | "
                     f"{_cell(r.fcl_grad_share, '.1%')} | {r.failures or '—'} |")
    flagged = gates[gates["failures"] != ""]
    text = (
        "## Training and gates\n\n"
        f"Every model trains under one rule: Adam at peak rate {params['train']['lr']:g} after "
        f"{params['train']['warmup_epochs']} warm-up epoch(s), the rate multiplied by "
        f"{rule['factor']:g} whenever the clean validation loss has not dropped by more than "
        f"{rule['min_delta']:.0%} for {rule['patience']} epoch(s), and training stops at the "
        f"stall after {rule['cuts']} cuts (converged) or at {params['train']['max_epochs']} "
        "epochs (not converged); the model is its best epoch's weights. A model that did not "
        "converge, a robust-training model more than "
        f"{params['gates']['accuracy_margin']:g} below the baseline's clean validation "
        "accuracy at the same seed, or an FCL-type model whose contrastive term stayed above "
        f"{params['gates']['engagement_ratio']:g} x its chance value ln(1 + N) or whose "
        f"gradient share is under {params['gates']['min_grad_share']:.0%} is flagged, and no "
        "claim decides on it (`gates` in params.yaml). "
        + (f"**{len(flagged)} of {len(gates)} trained models are flagged.**"
           if len(flagged) else f"All {len(gates)} trained models pass every gate.")
        + "\n\n" + "\n".join(lines) + "\n\n" + figure_markdown("training_curves"))
    metrics = {"training": {study: {model: {f"seed{r.seed}": {
        "converged": bool(r.converged), "epochs_run": int(r.epochs_run),
        "best_epoch": int(r.best_epoch), "flagged": bool(r.failures)}
        for r in group.itertuples()} for model, group in by_study.groupby("model", sort=False)}
        for study, by_study in gates.groupby("study", sort=False)}}
    return text, metrics
