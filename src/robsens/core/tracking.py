"""MLflow logging that can never lose results.

Every stage first writes its results to disk (atomically), then logs them here on a
best-effort basis: if the backend is missing or unreachable we warn and carry on, and
``python -m robsens mlflow sync`` replays everything on disk later. Runs are found again
by the tag ``robsens.run_key`` (the training identity), so a rerun stage (forced, resumed,
``dvc repro -f``) updates its run instead of creating a second one. Logging is idempotent:
a metric point the run already holds is not logged again, so reruns leave one point per
step in every metric's history.

Nothing here imports MLflow at module level: importing MLflow (about 1 s) and opening a
store (up to 1.5 s on SQLite) is paid only by the jobs that log, and the per-model
evaluation jobs do not (their metrics reach MLflow in the report stage, once per run).
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from robsens.core.config import flatten

RUN_KEY = "robsens.run_key"
# MLflow 3 opens an experiment on the view its kind names; without the tag the UI guesses
# and, with no runs yet, shows the GenAI overview ("Traces: 0") instead of the runs table.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
BATCH = 100  # MLflow caps params and tags per log_batch call at 100 each
METRIC_BATCH = 900  # and metrics at 1000


class StoreError(Exception):
    """The tracking store cannot be opened; the message is one line naming cause and fix."""


class StoreUnreachable(StoreError):
    """The tracking server does not answer: a passing state, unlike a broken store."""


def tracking_uri(params: Mapping[str, Any]) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or params["mlflow"]["tracking_uri"]


def _check_reachable(uri: str) -> None:
    """Fail fast on a dead HTTP server (MLflow's own retries would take minutes)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        with socket.create_connection((parsed.hostname, port), timeout=3):
            pass


def warn(what: str, exc: Exception) -> None:
    """One line: what was skipped, why, and how the results on disk reach MLflow later."""
    cause = str(exc) if isinstance(exc, StoreError) else f"{type(exc).__name__}: {exc}"
    cause = (cause.splitlines() or [type(exc).__name__])[0]
    print(f"WARNING: MLflow {what} skipped ({cause}). Results are on disk; run "
          "`python -m robsens mlflow sync` once the backend is reachable.", flush=True)


def best_effort(what: str, action: Callable[[], Any]) -> Any:
    """Run an MLflow action; on any failure warn (results stay on disk) and return None."""
    try:
        return action()
    except Exception as exc:  # any backend failure: the results on disk must survive it
        warn(what, exc)
        return None


def open_store(params: Mapping[str, Any]) -> tuple[Any, str]:
    """A client of the configured store and the experiment's id (created if missing).

    Raises :class:`StoreError` with one line naming the cause and the fix. A server that
    stops answering mid-way costs a job seconds, not MLflow's default minutes of retries.
    """
    uri = tracking_uri(params)
    try:
        _check_reachable(uri)
    except OSError as exc:
        raise StoreUnreachable(f"MLflow server {uri} unreachable ({exc}); start it or set "
                         "MLFLOW_TRACKING_URI to a reachable store") from None
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    warnings.filterwarnings("ignore", module="mlflow")
    from mlflow.tracking import MlflowClient  # slow import: only when logging

    try:
        client = MlflowClient(tracking_uri=uri)
        return client, experiment_id(client, experiment_name(params))
    except Exception as exc:  # SQLAlchemy, MLflow and OS errors all mean the same here
        first = (str(exc).splitlines() or [type(exc).__name__])[0].strip()[:300]
        raise StoreError(f"MLflow store {uri} cannot be opened ({type(exc).__name__}: "
                         f"{first}); point MLFLOW_TRACKING_URI or mlflow.tracking_uri in "
                         "params.yaml at a working store (e.g. sqlite:///mlflow.db), or move "
                         "the broken file away") from None


def experiment_name(params: Mapping[str, Any]) -> str:
    """The run's MLflow experiment: ``mlflow.experiment`` for the default study, suffixed
    with the run name for a named run (an overlay), so that in the UI an overlay's models are
    never mixed with the default study's ones of the same name (``erm-seed0``...)."""
    run = params.get("run_name") or ""
    return params["mlflow"]["experiment"] + (f"-{run}" if run else "")


def mlflow_run_name(params: Mapping[str, Any], name: str) -> str:
    """A run's name in the UI: ``name``, after the run name for a named run
    (``smoke/erm-seed0``), so that an overlay's runs stay apart from the default study's ones
    also where the UI shows several experiments' runs in one table (Compare)."""
    run = params.get("run_name") or ""
    return f"{run}/{name}" if run else name


def experiment_id(client, name: str) -> str:
    """The experiment's id, created if missing (tolerating a concurrent creator), with the
    tag that opens it on the training-runs view."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, tags=EXPERIMENT_KIND)
        except Exception:  # another job created it between our lookup and create
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    for key, value in EXPERIMENT_KIND.items():
        if exp.tags.get(key) != value:  # an experiment created before the tag existed
            client.set_experiment_tag(exp.experiment_id, key, value)
    return exp.experiment_id


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


def runs_by_key(client, exp_id: str) -> dict[str, Any]:
    """Every run of the experiment that has a run key, by key (the latest per key): one
    paged search instead of one per run."""
    found: dict[str, Any] = {}
    token = None
    while True:
        page = client.search_runs([exp_id], filter_string=f"tags.`{RUN_KEY}` != ''",
                                  order_by=["attributes.start_time ASC"], max_results=1000,
                                  page_token=token)
        found |= {r.data.tags[RUN_KEY]: r for r in page}
        token = page.token
        if not token:
            return found


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


def log_points(client, run_id: str, points: Iterable[tuple[str, float, int]]) -> int:
    """Log (key, value, step) points stamped now, in batches MLflow accepts; returns how
    many."""
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    batch = [Metric(k, float(v), stamp, step) for k, v, step in points]
    for i in range(0, len(batch), METRIC_BATCH):
        client.log_batch(run_id, metrics=batch[i : i + METRIC_BATCH])
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
    return log_points(client, run_id, [(k, v, step) for k, v in metrics.items()
                                       if not _same(current.get(k), float(v))])


def logged_steps(client, run_id: str, keys: Iterable[str]) -> set[tuple[str, int]]:
    """The (key, step) points the run's history holds for ``keys`` (metrics it has)."""
    return {(m.key, m.step) for k in sorted(set(keys))
            for m in client.get_metric_history(run_id, k)}


def log_history(client, run_id: str, steps: Mapping[int, Mapping[str, float]],
                current: Mapping[str, float] | None = None) -> int:
    """Log per-step metrics (``{step: {key: value}}``, e.g. one row per epoch), skipping
    every (key, step) the run's history already has: a rerun adds no point, a resumed or
    longer run adds only its new steps. Returns how many points were logged.
    """
    if current is None:
        current = client.get_run(run_id).data.metrics
    have = logged_steps(client, run_id, (k for row in steps.values() for k in row
                                         if k in current))  # others have no history yet
    return log_points(client, run_id, [(k, v, step) for step, row in steps.items()
                                       for k, v in row.items() if (k, step) not in have])


def log_new_params(client, run, values: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Params the run lacks (MLflow params are immutable; the run key fixes what they
    describe) and tags (overwritten), in batches MLflow accepts."""
    from mlflow.entities import Param, RunTag

    params = [Param(k, str(v)[:6000]) for k, v in flatten(dict(values)).items()
              if k not in run.data.params]
    tag_list = [RunTag(k, str(v)) for k, v in tags.items()]
    for i in range(0, max(len(params), len(tag_list)), BATCH):
        client.log_batch(run.info.run_id, params=params[i : i + BATCH],
                         tags=tag_list[i : i + BATCH])
