"""Every figure of the report with its category and caption: their one declaration.

results.md prints each caption under its figure (:func:`figure_markdown`), and
``snakemake --report`` files each PNG of ``reports/figures`` under its category with the same
caption (``workflow/rules/pipeline.smk`` reads :data:`FIGURES`). This module imports
nothing heavy: the Snakefile imports it, and only the report stage's sections depend on it,
so editing a caption reruns the report and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """A PNG the report stage writes into ``reports/figures``; the caption is plain text (it
    is read as Markdown in results.md and as reStructuredText in Snakemake's report)."""

    name: str  # file name without ".png"
    category: str
    caption: str
    # when the report draws it only for some studies: the condition, in words ("" = always)
    only_if: str = ""

    @property
    def file(self) -> str:
        return f"{self.name}.png"


FIGURES: tuple[Figure, ...] = (
    Figure("data_grid", "Data",
           "Test examples per centre digit, without and with a corner digit; a corner digit "
           "under centre digits 0-4 makes the rare classes 10-14."),
    Figure("training_curves", "Training",
           "Clean validation loss (log scale) and accuracy by epoch, per model, one column "
           "per image study; the band is the interval over the seeds that ran that epoch "
           "(each stops when the convergence rule fires)."),
    Figure("per_class_accuracy", "Clean evaluation",
           "Clean test accuracy per class and model (mean and interval over seeds); the "
           "shaded classes 10-14 are the rare ones."),
    Figure("corrupted_accuracy", "Robustness",
           "Accuracy against corruption severity, one row of panels per corruption family "
           "(noise, blur, weather, digital, geometric), one panel per corruption (severity 0: "
           "clean accuracy), mean and interval over seeds."),
    Figure("rfs", "Robustness",
           "Relative foreground sensitivity against the std of the Gaussian noise put on one "
           "region; above 0 the model relies on the centre digit more than on the corner."),
    Figure("robustness_sensitivity_plane", "Robustness",
           "Each model placed by its mean corrupted accuracy (robustness) and its clean "
           "rare-class accuracy (sensitivity to the corner digit where it decides the label)."),
    Figure("curves", "Robustness",
           "Robust training read along its strength: clean and rare-class accuracy, mean "
           "corrupted accuracy and mean RFS against the noise sigma and against each attack "
           "norm's radius eps (0: the baseline), mean and interval over seeds.",
           only_if="a noise-augmentation or adversarial model is in the study"),
    Figure("output_sensitivity_by_context", "Sensitivity",
           "How far the prediction moves when the corner digit is removed, under centre digits "
           "0-4 (the corner decides the label) and 5-9 (it carries no information): mean JS "
           "divergence and logit-margin change per model, and the context selectivities "
           "(log10 ratio of the two contexts' means) of the prediction and of the embedding; "
           "mean and interval over seeds."),
    Figure("sensitivity_examples", "Sensitivity",
           "Utility and sensitivity maps of example test images for each model (first seed)."),
    Figure("corner_sensitivity_by_context", "Sensitivity",
           "Corner sensitivity of the embedding under centre digits 0-4 (the corner decides the "
           "label) and 5-9 (it carries no information), per model."),
    Figure("utility_vs_sensitivity", "Sensitivity",
           "Utility against sensitivity of the image patches, per model (log scales): aligned "
           "models are sensitive where the loss cares."),
    Figure("spurious_examples", "Spurious-background study",
           "One test digit per class with its background cue agreeing with the label (as in "
           "training, most of the time), drawn independently of it, and reversed (the cue of "
           "class y + 5 mod 10)."),
    Figure("spurious_accuracy_rfs", "Spurious-background study",
           "Accuracy with the background cue agreeing, independent and reversed, per model; "
           "RFS against the noise level with equal-energy and per-pixel noise (below 0: the "
           "model relies on the background more than on the digit). Mean and interval over "
           "seeds."),
    Figure("spurious_along_eps", "Spurious-background study",
           "Cue reliance (accuracy lost when the cue is reversed) and mean RFS along the attack "
           "radius, one column per attack norm from the baseline at eps 0; claim 4 expects "
           "reliance to grow and RFS to fall with eps.",
           only_if="an adversarial (or noise-augmentation) model is in spurious.models"),
    Figure("spurious_along_contrast", "Spurious-background study",
           "Cue reliance minus the baseline's along the cue's contrast, per model, with its "
           "interval over seeds; the linear study's l_inf threshold predicts l_inf training "
           "below 0 at low contrast and above 0 at high contrast.",
           only_if="spurious.contrast_sweep has contrasts and models (configs/paper.yaml)"),
    Figure("linear_reliance", "Linear study",
           "Population optimum of the linear study: spurious reliance against the relative "
           "attack budget (gaps where the core weight is zero)."),
    Figure("linear_phase_linf", "Linear study",
           "Phase diagram of the L-infinity population optimum over the attack budget and the "
           "spurious-to-core noise ratio."),
    Figure("linear_shift_mse", "Linear study",
           "Test MSE after a shift of the spurious correlation against the attack budget: "
           "population optimum (lines) and finite-sample fits (dots)."),
    Figure("linear_population_vs_finite", "Linear study",
           "Spurious weight norm of the population optimum against finite-sample adversarial "
           "training, per training-set size."),
)

BY_NAME = {figure.name: figure for figure in FIGURES}


def figure_markdown(name: str) -> str:
    """The figure as results.md shows it: the image, then its caption."""
    figure = BY_NAME[name]
    return f"![{figure.name}](figures/{figure.file})\n\n*{figure.caption}*\n"
