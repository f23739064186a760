"""What a trained model's weights depend on: the key of its checkpoints and MLflow run.

The key hashes the training job's fingerprint (:mod:`robsens.pipeline.fingerprints`: the
code its weights are computed with, as syntax without comments or docstrings, and its params
with its model's resolved hyperparameters, result-neutral keys left out), the device, the
seed and the exact data files. A checkpoint written by other code, data or settings is never
resumed, while an edit that cannot change the weights (a comment, the CLI, the report, a
speed setting) leaves every trained model's key, checkpoint and MLflow run as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robsens.core.config import content_digest
from robsens.core.io import load_json
from robsens.pipeline import paths
from robsens.pipeline.fingerprints import job_fingerprint


def run_identity(params: Mapping[str, Any], model_name: str, seed: int, data_dir: Path,
                 device: str, stage: str = "train") -> str:
    """The training job's fingerprint, the device the weights are computed on, the seed and
    the data files. ``stage``: the training stage (``train``, or ``spurious_train`` for the
    spurious study)."""
    manifest = load_json(Path(data_dir) / paths.DATA_MANIFEST.name)
    data_md5 = {k: v["md5"] for k, v in manifest["splits"].items()}
    return content_digest(job_fingerprint(stage, params, model_name), device, seed, data_md5)
