"""``python -m robsens train --model M --seed S``: train (or resume), export, log live to MLflow."""

from __future__ import annotations

import argparse

from robsens.core.config import check_model
from robsens.core.runtime import resolve_device
from robsens.pipeline import paths
from robsens.training.identity import run_identity
from robsens.training.loop import train
from robsens.training.tracking import Live


def run(params: dict, args: argparse.Namespace) -> None:
    check_model(params, args.model)
    out = paths.model_dir(args.model, args.seed)
    device = str(resolve_device(params["device"]))
    live = Live(params, args.model, args.seed,
                run_identity(params, args.model, args.seed, paths.DATA_DIR, device), device)
    try:
        train(params, args.model, args.seed, paths.DATA_DIR, out,
              paths.checkpoint_dir(args.model, args.seed), on_epoch=live.epoch)
    except BaseException:
        live.close("FAILED")  # the checkpoints stay: a rerun resumes and reopens the run
        raise
    live.close("FINISHED", out)
