"""The MLflow run of one trained model: logged from ``history.json`` by the report stage
(``mlflow.log_training: report``, the default) or live while it trains (``live``).

One run per training identity (tag ``robsens.run_key``). Live, the train stage opens it
before the first epoch (the run's real start), logs each epoch's metrics the moment the epoch
ends (stamped then), and closes it with the real end time. Results still reach the disk
first: if the backend is down the job warns and trains on, and the report stage (or
``python -m robsens mlflow sync``) later logs the run from ``history.json``. Rerunning a
training (forced, resumed, ``dvc repro -f``) reopens the same run; epochs its history
already holds are not logged again, and a run that already finished keeps its times.
The model itself, the evaluation data and metrics are added by the report stage
(:mod:`robsens.report.tracking`), once per pipeline run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from robsens.core.io import load_json
from robsens.core.tracking import (
    RUN_KEY,
    best_effort,
    find_run,
    git_commit,
    log_history,
    log_new_params,
    log_points,
    logged_steps,
    mlflow_run_name,
    open_store,
    warn,
)
from robsens.pipeline import paths

# The dataset context MLflow shows for each split ("mlflow.data.context").
CONTEXTS = {"train": "training", "val": "validation", "test": "evaluation",
            "probe": "evaluation", "val_probe": "evaluation", "test_independent": "evaluation",
            "test_reversed": "evaluation"}


@cache
def dataset_input(study: paths.Study, split: str, digest: str):
    """The split as an MLflow dataset input (its schema read from the file): built once per
    process, as the report stage logs it for every model of the study."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    with np.load(study.split_path(split)) as raw:
        arrays = {k: raw[k] for k in raw.files}
    dataset = mlflow.data.from_numpy(arrays, name=split, digest=digest,
                                     source=str(study.split_path(split).resolve()))
    return DatasetInput(dataset._to_mlflow_entity(),
                        tags=[InputTag("mlflow.data.context", CONTEXTS[split])])


def log_datasets(client, run, splits: list[str], study: paths.Study = paths.CORNER) -> None:
    """Log the data splits of ``study`` as the run's dataset inputs, each with the digest the
    data manifest records (the split file's MD5); splits the run already has are skipped."""
    manifest = load_json(study.manifest)["splits"]
    have = {(d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs} \
        if run.inputs else set()
    inputs = [dataset_input(study, split, manifest[split]["md5"]) for split in splits
              if (split, manifest[split]["md5"]) not in have]
    if inputs:
        client.log_inputs(run.info.run_id, datasets=inputs)


@dataclass(frozen=True)
class Store:
    """An open store as a caller that logs many runs holds it: the client, the experiment
    and its runs by run key (:func:`robsens.core.tracking.runs_by_key`)."""

    client: Any
    experiment_id: str
    runs: Mapping[str, Any]


class LiveRun:
    """A model's run while it trains: opened (or reopened) before the first epoch."""

    def __init__(self, client, run, reopened: bool) -> None:
        self.client, self.run_id = client, run.info.run_id
        self.finished = run.info.status == "FINISHED"  # a rerun of a finished training
        self.have = logged_steps(client, self.run_id, run.data.metrics) if reopened else set()

    @classmethod
    def open(cls, params: Mapping[str, Any], model_name: str, seed: int, identity: str,
             device: str, study: paths.Study = paths.CORNER, store: Store | None = None
             ) -> LiveRun:
        """Find the run by its key or create it; log params, tags and the training data.
        ``store``: a caller that logs many runs passes its open store (it then knows each
        run already), so the store is not opened and searched once per run."""
        if store is None:
            client, exp_id = open_store(params)
            run = find_run(client, exp_id, identity)
        else:
            client, exp_id = store.client, store.experiment_id
            run = store.runs.get(identity)
        hparams = params["models"][model_name]
        tags = {RUN_KEY: identity, "model": model_name, "method": hparams["method"],
                "seed": str(seed), "data_source": params["data"]["source"],
                "git_commit": git_commit(), "device": device, "study": study.name,
                "run": params.get("run_name") or "default"}
        reopened = run is not None
        if run is None:
            run = client.create_run(exp_id, run_name=mlflow_run_name(
                params, study.run_name(model_name, seed)), tags=tags)
            print(f"MLflow: created run {run.info.run_id} ({run.info.run_name})", flush=True)
        else:
            if run.info.status != "FINISHED":
                client.update_run(run.info.run_id, status="RUNNING")
            print(f"MLflow: updating run {run.info.run_id} ({run.info.run_name})", flush=True)
        logged = {"model": params["model"], "train": params["train"], "hparams": hparams,
                  "data": params["data"], "seed": seed}
        if study is paths.SPURIOUS:
            logged["spurious"] = params["spurious"]["data"]
        log_new_params(client, run, logged, {**tags, "mlflow.source.git.commit":
                                             tags["git_commit"]})
        log_datasets(client, run, ["train", "val"], study)
        return cls(client, run, reopened)

    def epoch(self, row: Mapping[str, float]) -> None:
        """Log one epoch's row (``history.json``'s format) now, at step ``epoch``."""
        step = int(row["epoch"])
        log_points(self.client, self.run_id, [(k, v, step) for k, v in row.items()
                                              if k != "epoch" and (k, step) not in self.have])

    def close(self, status: str, model_dir: Path | None = None) -> None:
        """Attach ``history.json``, tag the run with its convergence record (converged, epochs
        run, best epoch: what the UI's run list can filter on) and end the run now (a
        finished run keeps its times)."""
        if model_dir is not None:
            history = Path(model_dir) / paths.HISTORY_FILE
            self.client.log_artifact(self.run_id, str(history))
            for key, value in load_json(history)["convergence"].items():
                self.client.set_tag(self.run_id, f"convergence.{key}", str(value))
        if not self.finished:
            self.client.set_terminated(self.run_id, status=status)


class Live:
    """The live run, best effort: the first failure warns and ends the logging (the report
    stage logs the rest from disk); the training goes on."""

    def __init__(self, params: Mapping[str, Any], model_name: str, seed: int, identity: str,
                 device: str, study: paths.Study = paths.CORNER) -> None:
        self.run: LiveRun | None = best_effort(
            "logging", lambda: LiveRun.open(params, model_name, seed, identity, device, study))

    def _do(self, action: Callable[[LiveRun], None]) -> None:
        if self.run is None:
            return
        try:
            action(self.run)
        except Exception as exc:  # a backend failure must not stop the training
            warn("logging", exc)
            self.run = None

    def epoch(self, row: Mapping[str, float]) -> None:
        self._do(lambda run: run.epoch(row))

    def close(self, status: str, model_dir: Path | None = None) -> None:
        self._do(lambda run: run.close(status, model_dir))


def log_training(params: Mapping[str, Any], model_dir: str | Path,
                 study: paths.Study = paths.CORNER, store: Store | None = None) -> str:
    """Log a trained model's run from ``history.json`` (the offline fallback): what the live
    run would have logged, epochs stamped now. Returns the run id. ``store``: as in
    :meth:`LiveRun.open`."""
    history = load_json(Path(model_dir) / paths.HISTORY_FILE)
    live = LiveRun.open(params, history["model"], history["seed"], history["identity"],
                        history["device"], study, store)
    current = live.client.get_run(live.run_id).data.metrics
    log_history(live.client, live.run_id,
                {row["epoch"]: {k: v for k, v in row.items() if k != "epoch"}
                 for row in history["epochs"]}, current=current)
    live.close("FINISHED", model_dir)
    return live.run_id
