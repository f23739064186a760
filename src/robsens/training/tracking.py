"""The MLflow run of one trained model: params, per-epoch metrics, tags and artifacts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robsens.core.config import flatten
from robsens.core.io import load_json
from robsens.core.tracking import (
    RUN_KEY,
    experiment_id,
    find_run,
    git_commit,
    init_tracking,
    log_metrics,
    log_results,
    mlflow_client,
    tracking_uri,
)
from robsens.pipeline import paths


def log_training(params: Mapping[str, Any], model_name: str, model_dir: str | Path,
                 data_source: str) -> None:
    """Create the model's run from ``history.json``: params, per-epoch metrics, artifacts."""
    from mlflow.entities import Param, RunTag

    model_dir = Path(model_dir)
    history = load_json(model_dir / "history.json")
    client = mlflow_client(params)
    exp_id = experiment_id(client, params["mlflow"]["experiment"])
    tags = {RUN_KEY: history["identity"], "model": model_name, "method": history["method"],
            "seed": str(history["seed"]), "data_source": data_source,
            "git_commit": git_commit(), "device": history["device"]}
    run = client.create_run(exp_id, run_name=f"{model_name}-seed{history['seed']}", tags=tags)
    run_id = run.info.run_id
    logged = {"model": params["model"], "train": params["train"], "hparams":
              params["models"][model_name], "data": params["data"], "seed": history["seed"]}
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in
                                     flatten(logged).items()],
                     tags=[RunTag("mlflow.source.git.commit", tags["git_commit"])])
    for row in history["epochs"]:
        log_metrics(client, run_id, {k: v for k, v in row.items() if k != "epoch"}, row["epoch"])
    for name in ("model.pt", "history.json"):
        client.log_artifact(run_id, str(model_dir / name))
    client.set_terminated(run_id)


def sync_from_disk(params: Mapping[str, Any]) -> int:
    """Log every trained model and metrics file on disk that MLflow does not have yet."""
    client = mlflow_client(params)
    exp_id = experiment_id(client, params["mlflow"]["experiment"])
    created = 0
    for history_path in sorted(paths.MODELS_DIR.glob("*/seed*/history.json")):
        history = load_json(history_path)
        model_dir = history_path.parent
        run = find_run(client, exp_id, history["identity"])
        if run is None:
            source = load_json(paths.DATA_MANIFEST)["source"]
            log_training(params, history["model"], model_dir, source)
            run, created = find_run(client, exp_id, history["identity"]), created + 1
        metric_dir = paths.METRICS_DIR / model_dir.relative_to(paths.MODELS_DIR)
        for metrics_path in sorted(metric_dir.glob("*.json")):
            prefix = f"{metrics_path.stem}."
            if not any(k.startswith(prefix) for k in run.data.metrics):
                log_results(params, history["identity"], metrics_path, metrics_path.stem)
    return created


def add_arguments(parser: Any) -> None:
    parser.add_argument("action", choices=["init", "sync"])


def run(params: Mapping[str, Any], args: Any) -> None:
    """``python -m robsens mlflow init|sync``."""
    if args.action == "init":
        exp = init_tracking(params)
        print(f"MLflow experiment {params['mlflow']['experiment']!r} (id {exp}) ready at "
              f"{tracking_uri(params)}")
    else:
        print(f"synced {sync_from_disk(params)} run(s) from disk to {tracking_uri(params)}")
