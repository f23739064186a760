"""Where every artifact lives, relative to the run's root: defined here and nowhere else.

The default study's root is the project root; a named run's (``run_name`` in its config
overlay) is ``runs/<run_name>/`` (:mod:`robsens.pipeline.runs`), where its jobs run, so
every path below holds for both.

Templates carry the wildcards ``{model}`` and ``{seed}``: the stage table
(:mod:`robsens.pipeline.stages`) hands them to Snakemake as they are and to DVC as
``${item.model}``; the stages themselves fill them in with :func:`fill`.
"""

from __future__ import annotations

from pathlib import Path

# File names inside a directory a stage writes (stages also write them into test folders).
MANIFEST_FILE, MODEL_FILE, HISTORY_FILE = "manifest.json", "model.pt", "history.json"

RUNS_DIR = Path("runs")  # named runs' roots, relative to the project root
SOURCE_DIR = Path("src/robsens")  # the package source, as the pipeline's code dependencies
SPLITS = ("train", "val", "test", "probe", "val_probe")
# What an evaluation reads, by params `evaluate.split`: the test side (the study's numbers) or
# the validation side (a sweep choosing hyperparameters must never see the test side). Stages
# name the test side's roles, "test" (i.i.d. images) and "probe" (the paired probe);
# :func:`eval_split` maps a role to the split file the run reads.
EVAL_SPLITS = {"test": {"test": "test", "probe": "probe"},
               "val": {"test": "val", "probe": "val_probe"}}

DATA_DIR = Path("data/corner")
DATA_MANIFEST = DATA_DIR / MANIFEST_FILE
CORRUPTED_DIR = Path("data/corrupted")
CORRUPTED_SUBSET = CORRUPTED_DIR / "subset.npz"  # evaluation-split indices it corrupted

MODELS_DIR = Path("results/models")
METRICS_DIR = Path("results/metrics")
CHECKPOINTS_DIR = Path("results/checkpoints")  # undeclared: must survive a failed job
LINEAR_DIR = Path("results/linear")
LINEAR_SWEEP = LINEAR_DIR / "sweep.csv"
LINEAR_SUMMARY = LINEAR_DIR / "summary.json"

REPORTS_DIR = Path("reports")
REPORT_MD = REPORTS_DIR / "results.md"
REPORT_SUMMARY = REPORTS_DIR / "summary.json"
FIGURES_DIR = REPORTS_DIR / "figures"

LOGS_DIR = Path("logs")
BENCHMARKS_DIR = Path("benchmarks")

# Per model and seed (templates).
RUN = "{model}/seed{seed}"
MODEL = f"{MODELS_DIR}/{RUN}/{MODEL_FILE}"
HISTORY = f"{MODELS_DIR}/{RUN}/{HISTORY_FILE}"
METRICS = f"{METRICS_DIR}/{RUN}/{{kind}}.json"
SENSITIVITY_ARRAYS = f"{METRICS_DIR}/{RUN}/sensitivity_maps.npz"
# Accuracy per corruption severity, as records for `dvc plots show`.
ROBUSTNESS_CURVE = f"{METRICS_DIR}/{RUN}/robustness_curve.json"


def fill(template: str, **wildcards: object) -> Path:
    """A template with its wildcards filled in, e.g. ``fill(MODEL, model="erm", seed=0)``."""
    return Path(template.format(**wildcards))


def split_path(split: str) -> Path:
    return DATA_DIR / f"{split}.npz"


def eval_split(params: dict, role: str) -> str:
    """The split an evaluation reads for ``role`` ("test" or "probe") under
    ``params["evaluate"]["split"]``."""
    return EVAL_SPLITS[params["evaluate"]["split"]][role]


def eval_inputs(files: tuple[str, ...], split: str) -> tuple[str, ...]:
    """Stage inputs with the test side's split files swapped for ``split``'s (the paths of
    every other input unchanged)."""
    swap = {str(split_path(role)): str(split_path(name))
            for role, name in EVAL_SPLITS[split].items()}
    return tuple(swap.get(f, f) for f in files)


def model_dir(model: str, seed: int) -> Path:
    return fill(MODEL, model=model, seed=seed).parent


def checkpoint_dir(model: str, seed: int) -> Path:
    return CHECKPOINTS_DIR / fill(RUN, model=model, seed=seed)


def metrics_path(model: str, seed: int, kind: str) -> Path:
    """``kind``: the name of the evaluation stage that writes the file (clean, robustness, ...)."""
    return fill(METRICS, model=model, seed=seed, kind=kind)

