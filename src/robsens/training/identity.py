"""What a trained model's weights depend on: the key of its checkpoints and MLflow run.

The key hashes the train stage's params, the device, the seed, the exact data files and the
source of the training code (computed from the import graph, like the stage's code
dependencies), so a checkpoint written by other code, data or settings is never resumed,
while an edit to, say, the report leaves every trained model's key unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robsens.core.config import content_digest
from robsens.core.io import load_json
from robsens.pipeline import paths
from robsens.pipeline.deps import source_digest
from robsens.pipeline.stages import BY_NAME

TRAINING_CODE = "robsens.training.loop"  # the code that computes the weights


def run_identity(params: Mapping[str, Any], model_name: str, seed: int, data_dir: Path,
                 device: str, stage: str = "train") -> str:
    """The train stage's params (the keys its rule reruns on, so no rerun can resume a
    checkpoint of other settings), the device the weights are computed on, the seed, the
    data files, and the source of the training code (not the CLI or the logging: editing a
    help text must not orphan checkpoints and MLflow runs). ``stage``: the training stage
    whose params count (``train``, or ``spurious_train`` for the spurious study)."""
    manifest = load_json(Path(data_dir) / paths.DATA_MANIFEST.name)
    data_md5 = {k: v["md5"] for k, v in manifest["splits"].items()}
    config = BY_NAME[stage].params_values(params, {"model": model_name, "seed": seed})
    return content_digest(config, device, seed, data_md5, source_digest(TRAINING_CODE))
