"""Where every artifact lives (relative to the project root).

The CLI uses these defaults; the Snakemake rules and dvc.yaml declare the same paths,
and tests/test_pipeline_equivalence.py checks that the two pipelines agree.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path("data/corner")
MODELS_DIR = Path("results/models")
METRICS_DIR = Path("results/metrics")
CHECKPOINTS_DIR = Path("results/checkpoints")  # undeclared: must survive a failed job
REPORTS_DIR = Path("reports")
FIGURES_DIR = REPORTS_DIR / "figures"


def model_dir(model: str, seed: int) -> Path:
    return MODELS_DIR / model / f"seed{seed}"


def checkpoint_dir(model: str, seed: int) -> Path:
    return CHECKPOINTS_DIR / model / f"seed{seed}"


def metrics_path(model: str, seed: int, kind: str) -> Path:
    """``kind``: clean (this module's), or a later evaluation stage's name."""
    return METRICS_DIR / model / f"seed{seed}" / f"{kind}.json"
