"""MLflow logging that can never lose results.

Every stage first writes its results to disk (atomically), then logs them here on a
best-effort basis: if the backend is missing or unreachable we warn and carry on, and
``python -m robsens mlflow sync`` replays everything on disk later. Runs are found again
by the tag ``robsens.run_key`` (the training identity), so evaluation stages add their
metrics to the run of the model they evaluate, and a rerun stage (forced, resumed,
``dvc repro -f``) updates its run instead of creating a second one. Logging is idempotent:
a metric point the run already holds is not logged again, so reruns leave one point per
step in every metric's history.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from robsens.core.config import flatten
from robsens.core.io import load_json

RUN_KEY = "robsens.run_key"


def tracking_uri(params: Mapping[str, Any]) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or params["mlflow"]["tracking_uri"]


def _check_reachable(uri: str) -> None:
    """Fail fast on a dead HTTP server (MLflow's own retries would take minutes)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        with socket.create_connection((parsed.hostname, port), timeout=3):
            pass


def best_effort(what: str, action: Callable[[], Any]) -> Any:
    """Run an MLflow action; on any failure warn (results stay on disk) and return None."""
    try:
        return action()
    except Exception as exc:  # any backend failure: the results on disk must survive it
        print(f"WARNING: MLflow {what} skipped ({type(exc).__name__}: {exc}). Results are on "
              "disk; run `python -m robsens mlflow sync` once the backend is reachable.",
              flush=True)
        return None


def mlflow_client(params: Mapping[str, Any]):
    """A client for the configured backend (fails fast if an HTTP server is down)."""
    uri = tracking_uri(params)
    _check_reachable(uri)
    warnings.filterwarnings("ignore", module="mlflow")
    from mlflow.tracking import MlflowClient  # slow import: only when logging

    return MlflowClient(tracking_uri=uri)


def experiment_id(client, name: str) -> str:
    """The experiment's id, created if missing (tolerating a concurrent creator)."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another job created it between our lookup and create
        return client.get_experiment_by_name(name).experiment_id


def init_tracking(params: Mapping[str, Any]) -> str:
    """Create the database and experiment once, before parallel jobs race to do it."""
    return experiment_id(mlflow_client(params), params["mlflow"]["experiment"])


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def find_run(client, exp_id: str, run_key: str):
    runs = client.search_runs([exp_id], filter_string=f"tags.`{RUN_KEY}` = '{run_key}'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def scalar_metrics(tree: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Finite numeric leaves of a metrics tree; lists become indexed keys (``a.03``)."""
    out: dict[str, float] = {}
    for key, value in flatten(tree, prefix).items():
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for i, v in items:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                continue
            out[key if i is None else f"{key}.{i:02d}"] = float(v)
    return out


def _same(a: float | None, b: float) -> bool:
    return a is not None and (a == b or (math.isnan(a) and math.isnan(b)))


def _log_batch(client, run_id: str, points: list[tuple[str, float, int]]) -> int:
    """Log (key, value, step) points in batches MLflow accepts; returns how many."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, step) for k, v, step in points]
    for i in range(0, len(batch), 900):  # MLflow caps a batch at 1000 metrics
        client.log_batch(run_id, metrics=batch[i : i + 900])
    return len(batch)


def log_metrics(client, run_id: str, metrics: Mapping[str, float], step: int = 0,
                current: Mapping[str, float] | None = None) -> int:
    """Log scalar metrics at one step, skipping those the run already holds with that value.

    ``current``: the run's latest metric values (``run.data.metrics``), fetched if not given.
    A rerun that reproduces a value thus adds no second point to its history; a value that
    changed is logged (and becomes the latest). Returns how many metrics were logged.
    """
    if current is None:
        current = client.get_run(run_id).data.metrics
    return _log_batch(client, run_id, [(k, v, step) for k, v in metrics.items()
                                       if not _same(current.get(k), float(v))])


def log_history(client, run_id: str, steps: Mapping[int, Mapping[str, float]],
                current: Mapping[str, float] | None = None) -> int:
    """Log per-step metrics (``{step: {key: value}}``, e.g. one row per epoch), skipping
    every (key, step) the run's history already has: a rerun adds no point, a resumed or
    longer run adds only its new steps. Returns how many points were logged.
    """
    if current is None:
        current = client.get_run(run_id).data.metrics
    keys = {k for row in steps.values() for k in row if k in current}  # others have no history
    have = {(m.key, m.step) for k in sorted(keys) for m in client.get_metric_history(run_id, k)}
    return _log_batch(client, run_id, [(k, v, step) for step, row in steps.items()
                                       for k, v in row.items() if (k, step) not in have])


def log_results(params: Mapping[str, Any], run_key: str, metrics_path: str | Path,
                prefix: str) -> None:
    """Add an evaluation's metrics file (as metrics and artifact) to the model's run."""
    client = mlflow_client(params)
    exp_id = experiment_id(client, params["mlflow"]["experiment"])
    run = find_run(client, exp_id, run_key)
    if run is None:
        raise LookupError(f"no MLflow run tagged {RUN_KEY}={run_key}; run "
                          "`python -m robsens mlflow sync` to create it from disk")
    log_metrics(client, run.info.run_id, scalar_metrics(load_json(metrics_path), f"{prefix}."),
                current=run.data.metrics)
    client.log_artifact(run.info.run_id, str(metrics_path))  # same path: overwritten
