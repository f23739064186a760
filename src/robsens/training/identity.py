"""What a trained model's weights depend on: the key of its checkpoints and MLflow run.

The key hashes the training config, the seed, the exact data files and the source of the
modules the train stage imports (computed from the import graph, like the stage's code
dependencies), so a checkpoint written by other code or other data is never resumed,
while an edit to, say, the report leaves every trained model's key unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robsens.core.config import fingerprint
from robsens.core.io import load_json
from robsens.pipeline.deps import source_digest


def training_config(params: Mapping[str, Any], model_name: str) -> dict[str, Any]:
    """Everything a trained model's numbers depend on (besides data, seed and code)."""
    return {
        "model": params["model"],
        "train": params["train"],
        "hparams": params["models"][model_name],
        "reproducibility": params["reproducibility"],  # which CPU kernels computed them
    }


def run_identity(params: Mapping[str, Any], model_name: str, seed: int, data_dir: Path) -> str:
    """Config, seed, data files and the train stage's code, hashed."""
    manifest = load_json(Path(data_dir) / "manifest.json")
    data_md5 = {k: v["md5"] for k, v in manifest["splits"].items()}
    return fingerprint(training_config(params, model_name), seed, data_md5,
                       source_digest("train"))
