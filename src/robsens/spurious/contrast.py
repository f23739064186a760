"""``python -m robsens spurious_contrast --model M --seed S``: claim 4 along the cue's contrast.

The linear study (docs/science.md section 6) predicts a threshold for l_inf adversarial
training: it leaves a spurious feature alone while the feature's scale is below the core
feature's (rho sigma_s <= sigma_c) and uses it beyond. The image analogue of that scale is the
cue grating's contrast. For each contrast of ``spurious.contrast_sweep.contrasts`` this job
builds the spurious-background data with ``spurious.data.contrast`` replaced, trains the model
under the study's one training rule and scores it on the three test splits, exactly as
``spurious_data``, ``spurious_train`` and ``spurious_evaluate`` do for the study's own
contrast. One job per model and seed: the contrasts run in order, each resumable from its
checkpoints; the data of a contrast is shared by every job (written atomically, identical
bytes). Output: per contrast, the spurious metrics and the training's convergence record;
the data, models and checkpoints stay in the job's work folder (``paths.CONTRAST_WORK``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from robsens.blocks.model import load_trained
from robsens.core.config import check_model
from robsens.core.io import load_json, save_json
from robsens.core.runtime import resolve_device
from robsens.data.corner import load_split
from robsens.pipeline import paths
from robsens.spurious.data import NUM_CLASSES, synthesize_spurious
from robsens.spurious.metrics import evaluate_spurious
from robsens.training.loop import train

STAGE = "spurious_contrast"
STUDY = paths.SPURIOUS_CONTRAST


def contrast_dir(root: Path, contrast: float) -> Path:
    return root / f"c{contrast:g}"


def contrast_data(params: dict[str, Any], contrast: float) -> Path:
    """The spurious-background splits at ``contrast`` (built once, then reused)."""
    out = contrast_dir(STUDY.data_dir, contrast)
    spurious_cfg = {**params["spurious"]["data"], "contrast": contrast}
    manifest = out / paths.MANIFEST_FILE  # written last: present means complete
    if not manifest.is_file() or load_json(manifest)["spurious_params"] != spurious_cfg:
        synthesize_spurious(params["data"], spurious_cfg, out)
    return out


def train_and_score(params: dict[str, Any], model: str, seed: int, contrast: float
                    ) -> dict[str, Any]:
    """One model at one contrast: its convergence record (with the best epoch's validation
    accuracy: the gates read both) and spurious metrics."""
    data = contrast_data(params, contrast)
    out = contrast_dir(STUDY.models_dir, contrast) / model / f"seed{seed}"
    trained = train(params, model, seed, data, out,
                    contrast_dir(STUDY.checkpoints_dir, contrast) / model / f"seed{seed}",
                    stage=STAGE, num_classes=NUM_CLASSES)
    device = resolve_device(params["device"])
    splits = {s: load_split(data, s, device) for s in paths.SPURIOUS_TEST_SPLITS}
    metrics = evaluate_spurious(load_trained(out / paths.MODEL_FILE, device), splits,
                                params["spurious"]["rfs"], params["evaluate"]["batch_size"])
    scalars = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    return {"contrast": contrast, "convergence": trained["convergence"], **scalars}


def run(params: dict, args: argparse.Namespace) -> None:
    check_model(params, args.model, STUDY.model_set)
    records = []
    for contrast in params["spurious"]["contrast_sweep"]["contrasts"]:
        record = train_and_score(params, args.model, args.seed, contrast)
        records.append(record)
        print(f"{args.model} seed {args.seed} contrast {contrast:g}: cue reliance "
              f"{record['spurious_cue_reliance']:+.4f}, accuracy "
              f"{record['spurious_accuracy']:.4f} (converged: "
              f"{record['convergence']['converged']})", flush=True)
    save_json(STUDY.metrics_path(args.model, args.seed, "contrast"),
              {"model": args.model, "method": params["models"][args.model]["method"],
               "seed": args.seed, "contrasts": records})
