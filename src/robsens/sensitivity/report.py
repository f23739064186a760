"""The sensitivity section of the report: tables and figures (claim 3 of docs/science.md is
decided in :mod:`robsens.report.claims` from the endpoint params declares).

Reads ``results/metrics/*/seed*/sensitivity.json`` (summaries) and the per-image arrays next
to them (figures). Intervals are Student-t over seeds for the tables and figures. The
output-level numbers (how far the prediction moves with the corner digit) come first: they
are claim 3's primary endpoint; the embedding-level ones follow as secondary.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from robsens.core.io import load_npz, save_figure
from robsens.core.stats import markdown_table, summarise, t_errorbar
from robsens.pipeline import paths
from robsens.report.figures import figure_markdown
from robsens.report.images import colour, mosaic_figure, panel_grid
from robsens.report.tables import load_metrics, model_order, with_roles
from robsens.sensitivity.maps import CONTEXTS, DIVERGENCE_FLOOR, MARGIN_FLOOR

OUTPUT_COLUMNS = {
    "output_selectivity_removal": "output selectivity, JS (log10)",
    "output_margin_selectivity_removal": "output selectivity, margin (log10)",
    "output_divergence_removal_centre_0_4": "JS, centre 0-4",
    "output_divergence_removal_centre_5_9": "JS, centre 5-9",
    "output_margin_change_removal_centre_0_4": "|Δ margin|, centre 0-4",
    "output_margin_change_removal_centre_5_9": "|Δ margin|, centre 5-9",
    "output_selectivity_perturbation": "output selectivity, JS, corner perturbed (log10)",
}
ALIGNMENT_COLUMNS = {
    f"alignment_with_corner_{form}_{context}": f"alignment ({form}), {label}"
    for form in ("perturbation", "gradient")
    for context, label in (("centre_0_4", "centre 0-4"), ("centre_5_9", "centre 5-9"))
}
COLUMNS = {
    "context_selectivity_perturbation": "context selectivity (perturbation)",
    "context_selectivity_gradient": "context selectivity (gradient)",
    "alignment_perturbation": "alignment (perturbation)",
    "alignment_gradient": "alignment (gradient)",
    "corner_sensitivity_perturbation_centre_0_4": "corner sens., centre 0-4",
    "corner_sensitivity_perturbation_centre_5_9": "corner sens., centre 5-9",
    "corner_utility_perturbation_centre_0_4": "corner utility, centre 0-4",
    "corner_utility_perturbation_centre_5_9": "corner utility, centre 5-9",
}
# the section's DVC metrics: the selectivities (output, then embedding) and the alignment
METRICS = [*list(OUTPUT_COLUMNS)[:2], "output_selectivity_perturbation", *list(COLUMNS)[:4]]
# the three selectivities of the figure's right panel, all as log10 ratios of context means
SELECTIVITIES = {"output_selectivity_removal": "output, JS",
                 "output_margin_selectivity_removal": "output, margin",
                 "context_selectivity_perturbation": "embedding, S_R"}
SCATTER_POINTS = 3000  # patches per model in the scatter (a seeded subsample)


def _unit(maps: np.ndarray) -> np.ndarray:
    """Scale each map to max 1: models differ in scale, the figure compares where, not how much."""
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return maps / np.where(peak > 0, peak, 1.0)


def example_maps(arrays: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """Columns: the input, then one column per model; two rows per example image (gradient
    utility and gradient sensitivity, each scaled to its maximum)."""
    first = next(iter(arrays.values()))
    n_examples, models = len(first["example_x"]), list(arrays)
    kinds = ("utility", "sensitivity")
    inputs = colour(first["example_x"][:, 0], "gray", 0, 1)
    maps = {(model, kind): colour(_unit(arrays[model][f"example_{kind}_gradient_pixels"][:, 0]),
                                  "magma", 0, 1)
            for model in models for kind in kinds}
    tiles = np.stack([np.stack([inputs[i], *(maps[model, kind][i] for model in models)])
                      for i in range(n_examples) for kind in kinds])
    titles = np.full(tiles.shape[:2], "", dtype=object)
    titles[0] = ["input", *models]
    labels = [f"centre {first['example_centre'][i]}, {kind}"
              for i in range(n_examples) for kind in kinds]
    fig = mosaic_figure(tiles, titles=titles, row_labels=labels, inches_per_px=0.04,
                        suptitle="Gradient utility |dl/dx| and sensitivity ||dg/dx_i||\n(each "
                                 "map scaled to its maximum)")
    save_figure(path, fig, dpi=100, bbox_inches="tight")


def corner_by_context(arrays: dict[tuple[str, int], dict[str, np.ndarray]], path: Path) -> None:
    """Per-image corner sensitivity (perturbation form) by model and context, seeds pooled."""
    frames = []
    for (model, _), a in arrays.items():
        context = np.where(
            a["probe_centre"] <= CONTEXTS["centre_0_4"][1], "centre 0-4", "centre 5-9"
        )
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "context": context,
                    "sensitivity": a["corner_sensitivity_perturbation"],
                }
            )
        )
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(arrays)), 4))
    sns.boxplot(
        pd.concat(frames), x="model", y="sensitivity", hue="context", showfliers=False, ax=ax
    )
    ax.set(ylabel="corner sensitivity S_R (corner perturbed)", xlabel="")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def output_by_context(sens: pd.DataFrame, level: float, path: Path) -> None:
    """Output-level measures of the corner digit's removal, by model: the mean JS divergence
    and the mean margin change per context, and the selectivities (log10 ratio of the
    centre 0-4 over the centre 5-9 mean) at the output and, for contrast, in the embedding.
    Bars are means over seeds with the report's t-interval."""
    frames = []
    for measure in ("divergence", "margin_change"):
        for context, label in (("centre_0_4", "centre 0-4"), ("centre_5_9", "centre 5-9")):
            frames.append(pd.DataFrame({"model": sens["model"], "context": label,
                                        "measure": measure,
                                        "value": sens[f"output_{measure}_removal_{context}"]}))
    changes = pd.concat(frames)
    selectivity = pd.concat([
        pd.DataFrame({"model": sens["model"], "level": label,
                      "value": np.log10(sens[key]) if key.startswith("context") else sens[key]})
        for key, label in SELECTIVITIES.items()])
    fig, axes = plt.subplots(3, 1, sharex=True,
                             figsize=(max(6.0, 0.9 * sens["model"].nunique()), 9))
    for ax, measure, ylabel in ((axes[0], "divergence", "JS divergence (nats)"),
                                (axes[1], "margin_change", "|Δ logit margin|")):
        sns.barplot(changes[changes["measure"] == measure], x="model", y="value", hue="context",
                    errorbar=t_errorbar(level), ax=ax)
        ax.set(ylabel=f"{ylabel}\n(corner removed)", xlabel="")
    sns.barplot(selectivity, x="model", y="value", hue="level", errorbar=t_errorbar(level),
                ax=axes[2])
    axes[2].set(ylabel="selectivity, log10(0-4 / 5-9)", xlabel="")
    for ax in axes:
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(path, fig, dpi=110)
    plt.close(fig)


def utility_vs_sensitivity(arrays: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """Patch utility against patch sensitivity (perturbation forms), one panel per model.

    Log axes: exact zeros (patches the perturbation leaves untouched) sit at a floor of 1e-6.
    """
    rng = np.random.default_rng(0)
    fig, axes = panel_grid(len(arrays), 5, (2.2, 2.2))
    for ax, (model, a) in zip(axes, arrays.items(), strict=True):
        u, s = (
            np.maximum(a[f"{k}_perturbation"].ravel(), 1e-6) for k in ("utility", "sensitivity")
        )
        pick = rng.choice(len(u), size=min(SCATTER_POINTS, len(u)), replace=False)
        ax.scatter(u[pick], s[pick], s=4, alpha=0.3, linewidths=0)
        ax.set(xscale="log", yscale="log", title=model)
    fig.supxlabel("patch utility U_R")
    fig.supylabel("patch sensitivity S_R")
    fig.tight_layout()
    save_figure(path, fig, dpi=90)


def sensitivity_section(params: dict, fig_dir: Path) -> tuple[str, dict]:
    sens = load_metrics(params, "sensitivity")
    if sens.empty:
        return "## Contextual utility and sensitivity\n\nNo sensitivity metrics yet.\n", {}
    sens = model_order(params, sens)
    level, cfg = params["report"]["ci_level"], params["sensitivity"]
    columns = [*OUTPUT_COLUMNS, *COLUMNS, *ALIGNMENT_COLUMNS]
    summary = with_roles(params, summarise(sens, ["model", "method"], columns, level))
    arrays = {(r.model, r.seed): load_npz(paths.fill(paths.SENSITIVITY_ARRAYS, model=r.model,
                                                     seed=r.seed))
              for r in sens.itertuples()}
    first_seed = {m: a for (m, s), a in arrays.items() if s == sens["seed"].min()}
    output_by_context(sens, level, fig_dir / "output_sensitivity_by_context.png")
    example_maps(first_seed, fig_dir / "sensitivity_examples.png")
    corner_by_context(arrays, fig_dir / "corner_sensitivity_by_context.png")
    utility_vs_sensitivity(first_seed, fig_dir / "utility_vs_sensitivity.png")

    text = [
        "## Contextual utility and sensitivity\n",
        "### Output level: how far the prediction moves with the corner digit\n",
        f"On the first {cfg['n_probe']} probe images (each a centre digit with a corner "
        "digit), the prediction with the corner digit is compared with the prediction with the "
        "corner digit removed (the probe pair) and with the corner perturbed in place "
        f"(`{cfg['corner_perturbation']}`). Per image: the Jensen-Shannon divergence (nats, at "
        "most ln 2 = 0.69) between the two predicted distributions, bounded so that a few "
        "confident flips cannot dominate the mean as they would a symmetric KL, and the "
        "absolute change of the logit margin of the with-corner label. **Output selectivity** "
        "= log10 of the centre 0-4 mean over the centre 5-9 mean (0: the prediction moves "
        "equally in both contexts; 1: ten times more where the corner decides the label); "
        "each mean is floored at "
        f"{DIVERGENCE_FLOOR:g} nats / {MARGIN_FLOOR:g} logits so that a model whose prediction "
        "never moves scores 0, not 0/0. A log-ratio, because the ratios span orders of "
        "magnitude and paired per-seed differences of logs are ratios of ratios. This is "
        "claim 3's primary endpoint: the head can apply the context by itself, so the "
        f"embedding need not be selective for the model to be. Mean ± {level:.0%} "
        "t-interval over seeds.\n",
        markdown_table(summary, OUTPUT_COLUMNS, ["model", "method"]),
        "",
        figure_markdown("output_sensitivity_by_context"),
        "### Embedding level (secondary)\n",
        "Utility: how much the loss cares about a region in this context; sensitivity: how much "
        "the embedding g moves when it moves (docs/science.md section 2). Perturbation forms "
        "perturb "
        f"a region with `{cfg['perturbation']}` (strength {cfg['strength']}): "
        "U_R = |l(x_R) - l(x)|, S_R = ||g(x_R) - g(x)|| / ||g(x)||. Gradient forms: |dl/dx_i| "
        f"and ||dg/dx_i|| (randomized estimator, {cfg['n_probes']} probes), summed over regions "
        f"({cfg['reduce']}). Corner scores perturb the whole corner square "
        f"(`{cfg['corner_perturbation']}`) of the first {cfg['n_probe']} probe images (all with a "
        "corner digit); **context selectivity** = "
        "mean corner sensitivity under centres 0-4 / under centres 5-9 (high: sensitive where "
        "the corner decides the label, robust where it does not). **Alignment** = Spearman "
        f"correlation of utility and sensitivity over the {cfg['patch']}x{cfg['patch']} patches "
        f"of each of the first {cfg['n_test']} test images, averaged. "
        f"Mean ± {level:.0%} t-interval over seeds.\n",
        markdown_table(summary, COLUMNS, ["model", "method"]),
        f"\nAlignment on images that carry a corner digit (the first {cfg['n_align']} probe "
        "images), split by context: the test images above are 90% without a corner digit.\n",
        markdown_table(summary, ALIGNMENT_COLUMNS, ["model", "method"]),
        "\nThe paired-probe flip rates, the same question asked of the predicted classes, are "
        "in the clean-evaluation table above.\n",
        "", *(figure_markdown(name) for name in
              ("sensitivity_examples", "corner_sensitivity_by_context", "utility_vs_sensitivity")),
    ]
    metrics = {row["model"]: {c: row[c] for c in METRICS} for _, row in summary.iterrows()}
    return "\n".join(text), {"sensitivity": metrics}
