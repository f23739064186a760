"""``python -m robsens train --model M --seed S``: train (or resume), export, and with
``mlflow.log_training: live`` log the run to MLflow as it trains."""

from __future__ import annotations

import argparse

from robsens.core.config import check_model
from robsens.core.domain import NUM_CLASSES
from robsens.core.runtime import resolve_device
from robsens.pipeline import paths
from robsens.training.identity import run_identity
from robsens.training.loop import train


def logs_live(params: dict) -> bool:
    """Whether a training job logs its MLflow run as it trains (``mlflow.log_training:
    live``) and so opens the store; by default the report stage logs it from disk."""
    return params["mlflow"]["log_training"] == "live"


def train_tracked(params: dict, model: str, seed: int, study: paths.Study, stage: str,
                  num_classes: int) -> None:
    """Train one model of ``study``: the train stage of every image study (``stage`` names
    it, for the run key). With ``mlflow.log_training: live`` the MLflow run is written as it
    trains; otherwise the job never loads MLflow and the report stage logs the run from
    ``history.json`` (the same run, with the same params, metrics and artifacts)."""
    out = study.model_dir(model, seed)
    if not logs_live(params):
        train(params, model, seed, study.data_dir, out, study.checkpoint_dir(model, seed),
              stage=stage, num_classes=num_classes)
        return
    from robsens.training.tracking import Live  # only a live run needs the tracking code

    device = str(resolve_device(params["device"]))
    live = Live(params, model, seed,
                run_identity(params, model, seed, study.data_dir, device, stage), device, study)
    try:
        train(params, model, seed, study.data_dir, out, study.checkpoint_dir(model, seed),
              on_epoch=live.epoch, stage=stage, num_classes=num_classes)
    except BaseException:
        live.close("FAILED")  # the checkpoints stay: a rerun resumes and reopens the run
        raise
    live.close("FINISHED", out)


def run(params: dict, args: argparse.Namespace) -> None:
    check_model(params, args.model)
    train_tracked(params, args.model, args.seed, paths.CORNER, "train", NUM_CLASSES)
