"""``python -m robsens train --model M --seed S``: train (or resume), export, log to MLflow."""

from __future__ import annotations

import argparse

from robsens.core.config import check_model
from robsens.core.io import load_json
from robsens.core.tracking import best_effort
from robsens.pipeline import paths
from robsens.training.loop import train
from robsens.training.tracking import log_training


def run(params: dict, args: argparse.Namespace) -> None:
    check_model(params, args.model)
    out = paths.model_dir(args.model, args.seed)
    train(params, args.model, args.seed, paths.DATA_DIR, out,
          paths.checkpoint_dir(args.model, args.seed))
    source = load_json(paths.DATA_MANIFEST)["source"]
    best_effort("logging", lambda: log_training(params, args.model, out, source))
