"""The MLflow run of one trained model: params, per-epoch metrics, tags and artifacts.

One run per training identity (tag ``robsens.run_key``): rerunning the train stage, however
it is rerun (forced, resumed, ``dvc repro -f``, ``mlflow sync``), updates that run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robsens.core.config import flatten
from robsens.core.io import load_json
from robsens.core.tracking import (
    RUN_KEY,
    best_effort,
    experiment_id,
    find_run,
    git_commit,
    init_tracking,
    log_history,
    log_results,
    mlflow_client,
    scalar_metrics,
    tracking_uri,
)
from robsens.pipeline import paths

BATCH = 100  # MLflow caps params and tags per log_batch call at 100 each


def log_training(params: Mapping[str, Any], model_name: str, model_dir: str | Path,
                 data_source: str) -> None:
    """Log the model's run from ``history.json``: params, per-epoch metrics, tags, artifacts.

    The run is found by its run key and created only if there is none. On an existing run,
    params already logged stay as they are (MLflow params are immutable; the run key fixes
    what they describe), epochs already in a metric's history are not logged again, and
    tags and artifacts are overwritten. The run reads RUNNING while it is being written and
    FINISHED once complete, so an interrupted update is completed by ``mlflow sync``.
    """
    from mlflow.entities import Param, RunTag

    model_dir = Path(model_dir)
    history = load_json(model_dir / paths.HISTORY_FILE)
    client = mlflow_client(params)
    exp_id = experiment_id(client, params["mlflow"]["experiment"])
    tags = {RUN_KEY: history["identity"], "model": model_name, "method": history["method"],
            "seed": str(history["seed"]), "data_source": data_source,
            "git_commit": git_commit(), "device": history["device"]}
    run = find_run(client, exp_id, history["identity"])
    if run is None:
        run = client.create_run(exp_id, run_name=f"{model_name}-seed{history['seed']}",
                                tags=tags)
        print(f"MLflow: created run {run.info.run_id} ({run.info.run_name})", flush=True)
    else:
        client.update_run(run.info.run_id, status="RUNNING")
        print(f"MLflow: updating run {run.info.run_id} ({run.info.run_name})", flush=True)
    run_id = run.info.run_id
    logged = {"model": params["model"], "train": params["train"], "hparams":
              params["models"][model_name], "data": params["data"], "seed": history["seed"]}
    new_params = [Param(k, str(v)[:6000]) for k, v in flatten(logged).items()
                  if k not in run.data.params]
    new_tags = [RunTag(k, v) for k, v in
                {**tags, "mlflow.source.git.commit": tags["git_commit"]}.items()]
    for i in range(0, max(len(new_params), len(new_tags)), BATCH):
        client.log_batch(run_id, params=new_params[i : i + BATCH],
                         tags=new_tags[i : i + BATCH])
    log_history(client, run_id, {row["epoch"]: {k: v for k, v in row.items() if k != "epoch"}
                                 for row in history["epochs"]}, current=run.data.metrics)
    for name in (paths.MODEL_FILE, paths.HISTORY_FILE):
        client.log_artifact(run_id, str(model_dir / name))  # same paths: overwritten
    client.set_terminated(run_id)


def sync_from_disk(params: Mapping[str, Any]) -> int:
    """Log every trained model and metrics file on disk that MLflow lacks or has out of date.

    Returns how many training runs were created or completed (a run left RUNNING by an
    interrupted logging call is completed); metrics files are logged where any value differs.
    """
    client = mlflow_client(params)
    exp_id = experiment_id(client, params["mlflow"]["experiment"])
    synced = 0
    for history_path in sorted(paths.MODELS_DIR.glob("*/seed*/history.json")):
        history = load_json(history_path)
        if history["model"] not in params["models"]:
            print(f"skipped {history_path}: model {history['model']!r} is not in the params")
            continue
        model_dir = history_path.parent
        run = find_run(client, exp_id, history["identity"])
        if run is None or run.info.status != "FINISHED":
            source = load_json(paths.DATA_MANIFEST)["source"]
            log_training(params, history["model"], model_dir, source)
            run, synced = find_run(client, exp_id, history["identity"]), synced + 1
        metric_dir = paths.METRICS_DIR / model_dir.relative_to(paths.MODELS_DIR)
        for metrics_path in sorted(metric_dir.glob("*.json")):
            wanted = scalar_metrics(load_json(metrics_path), f"{metrics_path.stem}.")
            if any(run.data.metrics.get(k) != v for k, v in wanted.items()):
                log_results(params, history["identity"], metrics_path, metrics_path.stem)
    return synced


def add_arguments(parser: Any) -> None:
    parser.add_argument("action", choices=["init", "sync"])


def run(params: Mapping[str, Any], args: Any) -> None:
    """``python -m robsens mlflow init|sync``.

    ``init`` runs before every pipeline (Snakemake's ``onstart``): a backend that is down
    must not stop the study, whose results reach the disk first, so it only warns. ``sync``
    exists to reach the backend, so there a failure is an error (one line, exit 1).
    """
    uri = tracking_uri(params)
    if args.action == "init":
        exp = best_effort("setup", lambda: init_tracking(params))
        if exp is not None:
            print(f"MLflow experiment {params['mlflow']['experiment']!r} (id {exp}) ready at "
                  f"{uri}")
        return
    try:
        synced = sync_from_disk(params)
    except OSError as exc:
        raise SystemExit(f"error: MLflow backend {uri} unreachable ({exc}); start it or set "
                         "MLFLOW_TRACKING_URI, then rerun python -m robsens mlflow sync") from None
    print(f"synced {synced} run(s) from disk to {uri}")
