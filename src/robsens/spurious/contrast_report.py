"""The contrast sweep's section of reports/results.md: cue reliance against the cue's contrast,
read against the linear study's l_inf threshold (docs/science.md sections 6 and 8).

Reads ``results/spurious/metrics/<model>/seed<k>/contrast.json``. At each contrast,
each model's cue reliance minus the baseline's, paired by seed, with a t interval over the
seeds at which both passed the training gates (``training.gates.failures``: converged, and a
robust model's clean validation accuracy within the margin of the baseline's). The theory
predicts that an l_inf model relies on the cue less than the baseline below a threshold in the
cue's scale and more beyond it: the section says, per l_inf model, whether the sign of that
difference goes from negative at the lowest contrast to positive at the highest.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from robsens.core.config import model_names
from robsens.core.io import load_json, save_figure
from robsens.core.stats import paired_differences, paired_t
from robsens.methods import model_roles
from robsens.pipeline import paths
from robsens.report.figures import figure_markdown
from robsens.training.gates import failures

METRIC = "spurious_cue_reliance"
FIGURE = "spurious_along_contrast"


def contrast_table(params: dict[str, Any]) -> pd.DataFrame:
    """One row per model x seed x contrast with the cue reliance and the gate failures."""
    study, roles = paths.SPURIOUS_CONTRAST, model_roles(params)
    rows = []
    for model in model_names(params, study.model_set):
        for seed in params["seeds"]:
            path = study.metrics_path(model, seed, "contrast")
            if path.is_file():
                rows += [{"model": model, "seed": seed, "role": roles[model].role,
                          "norm": roles[model].norm, "contrast": r["contrast"],
                          METRIC: r[METRIC], **r["convergence"]}
                         for r in load_json(path)["contrasts"]]
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    baseline = table[table["role"] == "baseline"].set_index(["seed", "contrast"])["val_accuracy"]
    table["failures"] = ["; ".join(failures(
        {**r, "fcl": None, "fcl_chance": None, "fcl_grad_share": None},
        baseline.get((r["seed"], r["contrast"])), r["role"], params["gates"]))
        for r in table.to_dict("records")]
    return table


def differences(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per non-baseline model and contrast: its reliance minus the baseline's, paired by seed
    over the seeds where both passed their gates, as a t interval; and the gated seeds."""
    passed = table[table["failures"] == ""]
    (baseline,) = table.loc[table["role"] == "baseline", "model"].unique()
    rows = []
    for (model, contrast), group in table[table["role"] != "baseline"].groupby(
            ["model", "contrast"], sort=False):
        def values(name: str, c: float = contrast) -> dict[int, float]:
            sel = passed[(passed["model"] == name) & (passed["contrast"] == c)]
            return dict(zip(sel["seed"], sel[METRIC], strict=True))

        interval = paired_t(paired_differences(values(model), values(baseline)), level)
        gated = table[(table["contrast"] == contrast) & (table["failures"] != "")
                      & table["model"].isin([model, baseline])]
        rows.append({"model": model, "norm": group["norm"].iloc[0], "contrast": contrast,
                     "estimate": interval.estimate, "low": interval.low, "high": interval.high,
                     "n": interval.n, "gated": "; ".join(
                         f"{r.model} seed {r.seed}: {r.failures}" for r in gated.itertuples())})
    columns = ["model", "norm", "contrast", "estimate", "low", "high", "n", "gated"]
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "contrast"],
                                                           ignore_index=True)


def sign(row: Any) -> str:
    """'+' or '−' when the interval excludes 0 on that side, '0' when it does not, '?' when
    there is no interval (fewer than two seeds passed their gates)."""
    if math.isnan(row.low):
        return "?"
    return "+" if row.low > 0 else "−" if row.high < 0 else "0"


def agreement(diffs: pd.DataFrame) -> list[str]:
    """Per l_inf model, the sentence on the theory's sign change (lowest vs highest contrast)."""
    sentences = []
    for model, rows in diffs[diffs["norm"] == "linf"].groupby("model", sort=False):
        rows = rows.sort_values("contrast")
        low, high = rows.iloc[0], rows.iloc[-1]
        ends = (sign(low), sign(high))
        signs = f"{ends[0]} at contrast {low.contrast:g}, {ends[1]} at {high.contrast:g}"
        if ends == ("−", "+"):
            verdict = "agrees with the linear theory: the difference changes sign"
        elif ends[0] == ends[1] and ends[0] in "+−":
            verdict = ("disagrees with the linear theory over this range: the difference "
                       "keeps one sign")
        elif "?" in ends:
            verdict = "cannot tell: fewer than two seeds passed their gates at an end"
        else:
            verdict = "cannot tell: an end is not distinguishable from 0 at these seeds"
        sentences.append(f"`{model}` − baseline cue reliance is {signs}: the image study "
                         f"{verdict}.")
    return sentences


def _num(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:+.3f}"


def draw(diffs: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for model, rows in diffs.groupby("model", sort=False):
        ax.errorbar(rows["contrast"], rows["estimate"],
                    yerr=[rows["estimate"] - rows["low"], rows["high"] - rows["estimate"]],
                    marker="o", capsize=3, label=model)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("cue contrast (spurious.data.contrast)")
    ax.set_ylabel("cue reliance − baseline's")
    ax.legend(fontsize=8)
    save_figure(path, fig, dpi=100, bbox_inches="tight")


def contrast_section(params: dict, fig_dir: Path) -> tuple[str, dict]:
    """Nothing when the run has no contrast sweep; else the table, the figure, the sentences."""
    sweep = params["spurious"]["contrast_sweep"]
    if not sweep["contrasts"] or not sweep["models"]:
        return "", {}
    title = "## Cue reliance along the cue's contrast (claim 4 against the linear theory)\n"
    table = contrast_table(params)
    if table.empty or table.loc[table["role"] == "baseline", "model"].nunique() != 1:
        return f"{title}\nNo evaluated models yet, or not exactly one baseline among them.\n", {}
    level = params["claims"]["level"]
    diffs = differences(table, level)
    if diffs.empty:
        return f"{title}\nOnly the baseline was trained: nothing to read against it.\n", {}
    draw(diffs, fig_dir / f"{FIGURE}.png")
    lines = [title, f"Models {', '.join(sweep['models'])} trained at each contrast "
             f"{', '.join(f'{c:g}' for c in sweep['contrasts'])} (`spurious.contrast_sweep`), "
             f"each seed's cue reliance minus the baseline's at the same contrast, t interval "
             f"at {level:g} over the seeds where both passed their training gates.", "",
             "| model | contrast | reliance − baseline [interval] | n | gated |",
             "|---|---|---|---|---|"]
    lines += [f"| {r.model} | {r.contrast:g} | {_num(r.estimate)} [{_num(r.low)}, "
              f"{_num(r.high)}] | {r.n} | {r.gated or '—'} |" for r in diffs.itertuples()]
    lines += ["", figure_markdown(FIGURE), *agreement(diffs)]
    metrics = {"spurious_contrast": {
        f"{r.model}.c{r.contrast:g}": {"estimate": r.estimate, "low": r.low, "high": r.high}
        for r in diffs.itertuples()}}
    return "\n".join(lines) + "\n", metrics
