"""The frame every per-model evaluation stage shares: load, compute, save.

The metrics go to disk only. The report stage adds them to the model's MLflow run, once
per pipeline run, so no per-model job pays for importing MLflow and opening its store
(about 2.5 s each, more than most evaluations take).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch

from robsens.blocks.model import load_trained
from robsens.core.config import check_model
from robsens.core.io import load_json, save_json
from robsens.core.runtime import make_deterministic, resolve_device
from robsens.pipeline import paths

Compute = Callable[[torch.nn.Module, torch.device], dict[str, Any]]


def run_model_stage(params: dict, args: argparse.Namespace, kind: str,
                    compute: Compute, study: paths.Study = paths.CORNER) -> dict[str, Any]:
    """Evaluate ``args.model``/``args.seed`` of ``study`` with ``compute``; write
    ``<kind>.json`` into the study's metrics tree."""
    check_model(params, args.model, study.model_set)
    make_deterministic(args.seed, params["threads"])
    device = resolve_device(params["device"])
    model = load_trained(paths.fill(study.model, model=args.model, seed=args.seed), device)
    history = load_json(paths.fill(study.history, model=args.model, seed=args.seed))
    metrics = {"model": args.model, "method": history["method"], "seed": args.seed,
               **compute(model, device)}
    save_json(study.metrics_path(args.model, args.seed, kind), metrics)
    return metrics
