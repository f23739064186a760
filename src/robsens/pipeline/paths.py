"""Where every artifact lives, relative to the run's root: defined here and nowhere else.

The default study's root is the project root; a named run's (``run_name`` in its config
overlay) is ``runs/<run_name>/`` (:mod:`robsens.pipeline.runs`), where its jobs run, so
every path below holds for both.

Templates carry the wildcards ``{model}`` and ``{seed}``: the stage table
(:mod:`robsens.pipeline.stages`) hands them to Snakemake as they are and to DVC as
``${item.model}``; the stages themselves fill them in with :func:`fill`.
"""

from __future__ import annotations

from dataclasses import dataclass
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

# What each stage's jobs depend on (code digest and params), one small file per stage or
# per trained model: the one input through which both Snakemake and DVC see code and params
FINGERPRINTS_DIR = Path("fingerprints")
LOGS_DIR = Path("logs")
BENCHMARKS_DIR = Path("benchmarks")

# The spurious-background study (docs/science.md section 8): its own data, models and metrics.
# its test splits show the same digits with the cue agreeing, independent and reversed
SPURIOUS_TEST_SPLITS = ("test", "test_independent", "test_reversed")
SPURIOUS_SPLITS = ("train", "val", *SPURIOUS_TEST_SPLITS)
SPURIOUS_DIR = Path("results/spurious")


@dataclass(frozen=True)
class Study:
    """Where one image study keeps its data, trained models, checkpoints and metrics: the
    corner-digit study and the spurious-background study train the same methods with the same
    loop and evaluation frame into separate trees. ``model_set`` is the params key whose names
    its ``{model}`` wildcard ranges over."""

    name: str  # "corner" | "spurious": the MLflow tag `study` of its training runs
    model_set: str
    data_dir: Path
    models_dir: Path
    metrics_dir: Path
    checkpoints_dir: Path

    @property
    def model(self) -> str:
        return f"{self.models_dir}/{RUN}/{MODEL_FILE}"

    @property
    def history(self) -> str:
        return f"{self.models_dir}/{RUN}/{HISTORY_FILE}"

    @property
    def metrics(self) -> str:
        return f"{self.metrics_dir}/{RUN}/{{kind}}.json"

    @property
    def manifest(self) -> Path:
        return self.data_dir / MANIFEST_FILE

    def split_path(self, split: str) -> Path:
        return self.data_dir / f"{split}.npz"

    def run_name(self, model: str, seed: int) -> str:
        """The MLflow run name of a trained model (the corner study's carry no prefix)."""
        return f"{'' if self is CORNER else self.name + '-'}{model}-seed{seed}"

    def model_dir(self, model: str, seed: int) -> Path:
        return fill(self.model, model=model, seed=seed).parent

    def checkpoint_dir(self, model: str, seed: int) -> Path:
        return self.checkpoints_dir / fill(RUN, model=model, seed=seed)

    def metrics_path(self, model: str, seed: int, kind: str) -> Path:
        """``kind``: the name of the evaluation that writes the file (clean, robustness, ...)."""
        return fill(self.metrics, model=model, seed=seed, kind=kind)


# Per model and seed (templates).
RUN = "{model}/seed{seed}"
CORNER = Study("corner", "corner.models", DATA_DIR, MODELS_DIR, METRICS_DIR, CHECKPOINTS_DIR)
MODEL, HISTORY, METRICS = CORNER.model, CORNER.history, CORNER.metrics
SPURIOUS = Study("spurious", "spurious.models", Path("data/spurious"), SPURIOUS_DIR / "models",
                 SPURIOUS_DIR / "metrics", SPURIOUS_DIR / "checkpoints")
# Per model and seed: the spurious metrics and the RFS curves as records for `dvc plots show`.
SPURIOUS_METRICS = SPURIOUS.metrics.replace("{kind}", "spurious")
SPURIOUS_RFS_CURVE = f"{SPURIOUS.metrics_dir}/{RUN}/rfs_curve.json"
# The contrast sweep (spurious.contrast_sweep): per model and seed, the spurious metrics and
# convergence record at each contrast (the declared output, beside the study's own metrics:
# dvc.yaml's report stage reads that folder, which exists with or without a sweep); each
# contrast's data, models and checkpoints are the job's work, kept beside the checkpoints
# (undeclared: they must survive a failed job, which resumes from them).
CONTRAST_WORK = CHECKPOINTS_DIR / "spurious_contrast"
SPURIOUS_CONTRAST = Study("spurious_contrast", "spurious.contrast_sweep.models",
                          CONTRAST_WORK / "data", CONTRAST_WORK / "models",
                          SPURIOUS_DIR / "metrics", CONTRAST_WORK / "checkpoints")
SPURIOUS_CONTRAST_METRICS = SPURIOUS_CONTRAST.metrics.replace("{kind}", "contrast")
# Every model set: a params key listing names of `models` (a study's {model} wildcard)
MODEL_SETS = (CORNER.model_set, SPURIOUS.model_set, SPURIOUS_CONTRAST.model_set)
SENSITIVITY_ARRAYS = f"{METRICS_DIR}/{RUN}/sensitivity_maps.npz"
# Accuracy per corruption severity, as records for `dvc plots show`.
ROBUSTNESS_CURVE = f"{METRICS_DIR}/{RUN}/robustness_curve.json"


def fill(template: str, **wildcards: object) -> Path:
    """A template with its wildcards filled in, e.g. ``fill(MODEL, model="erm", seed=0)``."""
    return Path(template.format(**wildcards))


# The corner-digit study's paths by the names every stage of it uses.
split_path, model_dir = CORNER.split_path, CORNER.model_dir
checkpoint_dir, metrics_path = CORNER.checkpoint_dir, CORNER.metrics_path


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

