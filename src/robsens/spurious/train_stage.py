"""``python -m robsens spurious_train --model M --seed S``: one model of ``spurious.models``
trained on the spurious-background data, by the same loop, methods and MLflow logging as the
corner-digit study's."""

from __future__ import annotations

import argparse

from robsens.core.config import check_model
from robsens.pipeline import paths
from robsens.spurious.data import NUM_CLASSES
from robsens.training.stage import train_tracked


def run(params: dict, args: argparse.Namespace) -> None:
    check_model(params, args.model, paths.SPURIOUS.model_set)
    train_tracked(params, args.model, args.seed, paths.SPURIOUS, "spurious_train", NUM_CLASSES)
