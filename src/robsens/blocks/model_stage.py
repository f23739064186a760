"""The frame every per-model evaluation stage shares: load, compute, save, log.

Metrics reach the disk first (atomically) and MLflow second, on a best-effort basis, so a
dead tracking backend never loses a result.
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
from robsens.core.tracking import best_effort, log_results
from robsens.pipeline import paths

Compute = Callable[[torch.nn.Module, torch.device], dict[str, Any]]


def run_model_stage(params: dict, args: argparse.Namespace, kind: str,
                    compute: Compute) -> dict[str, Any]:
    """Evaluate ``args.model``/``args.seed`` with ``compute``; write ``<kind>.json`` and log it."""
    check_model(params, args.model)
    make_deterministic(args.seed, params["threads"])
    device = resolve_device(params["device"])
    model = load_trained(paths.fill(paths.MODEL, model=args.model, seed=args.seed), device)
    history = load_json(paths.fill(paths.HISTORY, model=args.model, seed=args.seed))
    metrics = {"model": args.model, "method": history["method"], "seed": args.seed,
               **compute(model, device)}
    out = paths.metrics_path(args.model, args.seed, kind)
    save_json(out, metrics)
    best_effort("logging", lambda: log_results(params, history["identity"], out, kind))
    return metrics
