"""One pipeline-level MLflow run per pipeline run, and everything the jobs did not log.

The report stage ends here (best effort; the report is on disk first), and so does
``python -m robsens mlflow sync``; both are idempotent:

- every trained model on disk gets its run (logged now from ``history.json``, unless the
  training job logged it live, ``mlflow.log_training: live``, with the backend up), its
  model as an MLflow model (``mlflow.pytorch.log_model``, signature and input example, the
  safe ``pt2`` format: ``mlflow.pytorch.load_model("runs:/<id>/model")`` predicts the same
  logits), the evaluation data as dataset inputs and the evaluation metrics files (metrics and
  artifacts). Done once here rather than in each per-model job: MLflow's import and store
  cost a job about 2.5 s and the model export 2.7 s more, paid once in this process;
- the pipeline-level run (``stage: pipeline``) holds the report (results.md, summary.json,
  figures/), its numbers as metrics and the evaluation params; its description links the
  model runs and the linear study's run, and each of them names it in the tag
  ``robsens.pipeline_run``. Linked, not nested: MLflow's runs table folds nested runs
  under their parent, which would hide the training runs it is meant to show. Its run key
  is the report's digest: rerunning a pipeline that changes nothing, or syncing, updates
  that run instead of adding one.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robsens.core.config import content_digest, model_names
from robsens.core.io import file_md5, load_json
from robsens.core.tracking import (
    RUN_KEY,
    StoreError,
    StoreUnreachable,
    best_effort,
    git_commit,
    log_metrics,
    log_new_params,
    mlflow_run_name,
    open_store,
    runs_by_key,
    scalar_metrics,
    tracking_uri,
    warn,
)
from robsens.linear.tracking import linear_run_key
from robsens.pipeline import paths
from robsens.report.per_seed import STUDY_EVALUATIONS
from robsens.training.tracking import Store, log_datasets, log_training

PIPELINE_RUN = "robsens.pipeline_run"  # on a model run: the latest pipeline run made from it
MODEL_MD5 = "robsens.model_md5"  # the model.pt the run's logged MLflow model was made from
EVALUATION_PARAMS = ("evaluate", "robustness", "sensitivity", "spurious", "report", "seeds",
                     "device", "threads", "reproducibility")
EXAMPLE_ROWS = 4  # evaluation-split images in the logged model's input example


def evaluation_splits(params: Mapping[str, Any], study: paths.Study) -> list[str]:
    """The splits a study's models were evaluated on: the corner study's follow
    ``evaluate.split`` (test and probe, or their validation counterparts)."""
    if study.name == paths.CORNER.name:
        return [paths.eval_split(params, role) for role in ("test", "probe")]
    return list(paths.SPURIOUS_TEST_SPLITS)


def log_model(uri: str, run, model_path: Path, study: paths.Study, split: str) -> None:
    """Log ``model.pt`` as an MLflow PyTorch model with signature and input example.

    ``pt2`` (``torch.export``) stores a graph, not pickled code, so loading it runs nothing
    a tampered artifact carries (as ``load_torch`` is weights-only). The fluent run MLflow
    needs for this re-stamps the run's end time on exit; the training's is put back.
    """
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    from robsens.blocks.model import load_trained

    model = load_trained(model_path, torch.device("cpu"))
    with np.load(study.split_path(split)) as raw:
        example = (raw["x"][:EXAMPLE_ROWS, None].astype(np.float32) / 255)
    with torch.no_grad():
        logits = model(torch.from_numpy(example)).numpy()
    mlflow.set_tracking_uri(uri)
    with warnings.catch_warnings(), mlflow.start_run(run_id=run.info.run_id):
        warnings.simplefilter("ignore")  # torch.export's notes on channels-last weights
        mlflow.pytorch.log_model(
            model, name="model", signature=infer_signature(example, logits),
            input_example=example, serialization_format="pt2",
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            # MLflow would reload the model to predict the example: tests/test_mlflow_runs.py
            # checks the loaded model's logits bit for bit instead (a third of the cost)
            validate_serving_input=False)


def complete_model_run(client, uri: str, run, model_dir: Path, parent_id: str | None,
                       study: paths.Study, kinds: tuple[str, ...], splits: list[str]
                       ) -> None:
    """Add what the training job does not log: the model, the evaluation data (``splits``
    of ``study``, the first one's images as the model's input example), the evaluation
    metrics files (``kinds`` of ``study``); link the run to the pipeline run."""
    run_id = run.info.run_id
    tags = {} if parent_id is None else {PIPELINE_RUN: parent_id}
    md5 = file_md5(model_dir / paths.MODEL_FILE)
    if run.data.tags.get(MODEL_MD5) != md5:
        log_model(uri, run, model_dir / paths.MODEL_FILE, study, splits[0])
        client.set_terminated(run_id, status=run.info.status, end_time=run.info.end_time)
        tags[MODEL_MD5] = md5
    log_datasets(client, run, splits, study)
    metric_dir = study.metrics_dir / model_dir.relative_to(study.models_dir)
    for kind in kinds:
        metrics_path = metric_dir / f"{kind}.json"
        if not metrics_path.is_file():
            continue
        metrics = load_json(metrics_path)
        metrics.pop("per_image", None)  # thousands of outcomes: the file holds them
        wanted = scalar_metrics(metrics, f"{kind}.")
        if log_metrics(client, run_id, wanted, current=run.data.metrics):
            client.log_artifact(run_id, str(metrics_path))  # same path: overwritten
    log_new_params(client, run, {}, tags)


def pipeline_key() -> str | None:
    """The report's digest, or None before the report exists."""
    if not paths.REPORT_SUMMARY.is_file():
        return None
    return f"pipeline-{content_digest(file_md5(paths.REPORT_MD), file_md5(paths.REPORT_SUMMARY))}"


def log_pipeline_run(client, exp_id: str, params: Mapping[str, Any], run, key: str,
                     children: list) -> str:
    """Create or update the pipeline-level run: report artifacts, numbers, evaluation
    params, links to the runs it was made from."""
    if run is None:
        run = client.create_run(exp_id, run_name=mlflow_run_name(
            params, f"pipeline-{time.strftime('%Y%m%d-%H%M%S')}"),
                                tags={RUN_KEY: key, "stage": "pipeline"})
        print(f"MLflow: created pipeline run {run.info.run_id} ({run.info.run_name})")
    run_id = run.info.run_id
    links = "\n".join(f"- [{c.info.run_name}](#/experiments/{exp_id}/runs/{c.info.run_id})"
                      for c in children)
    note = ("The report of one pipeline run: `results.md`, `summary.json` and `figures/` "
            "under Artifacts, its numbers as metrics, the evaluation params as params. "
            f"The runs it was made from:\n\n{links}\n")
    evaluation = {k: params[k] for k in EVALUATION_PARAMS} | {
        "models": ",".join(params["models"])}
    log_new_params(client, run, evaluation,
                   {"git_commit": git_commit(), "mlflow.source.git.commit": git_commit(),
                    "mlflow.note.content": note})
    log_metrics(client, run_id, scalar_metrics(load_json(paths.REPORT_SUMMARY)),
                current=run.data.metrics)
    for path in (paths.REPORT_MD, paths.REPORT_SUMMARY):
        client.log_artifact(run_id, str(path))
    for figure in sorted(paths.FIGURES_DIR.glob("[!.]*")):  # not Snakemake's marker file
        client.log_artifact(run_id, str(figure), paths.FIGURES_DIR.name)
    client.set_terminated(run_id)
    return run_id


def publish(params: Mapping[str, Any]) -> int:
    """Log everything on disk that MLflow lacks; returns how many training runs had to be
    logged from disk (none when the training jobs logged live)."""
    client, exp_id = open_store(params)
    uri = tracking_uri(params)
    runs = runs_by_key(client, exp_id)
    model_dirs = []  # (study, its evaluations, model dir, run key), both image studies
    for study, kinds in STUDY_EVALUATIONS:
        for history_path in sorted(study.models_dir.glob("*/seed*/history.json")):
            history = load_json(history_path)
            if history["model"] not in model_names(params, study.model_set):
                print(f"skipped {history_path}: model {history['model']!r} is not in "
                      f"'{study.model_set}' of the params")
                continue
            model_dirs.append((study, kinds, history_path.parent, history["identity"]))
    synced = 0
    store = Store(client, exp_id, runs)
    for study, _, model_dir, identity in model_dirs:
        run = runs.get(identity)
        if run is None or run.info.status != "FINISHED":
            log_training(params, model_dir, study, store)
            synced += 1
    runs = runs_by_key(client, exp_id) if synced else runs
    children = [runs[identity] for *_, identity in model_dirs]
    if linear_run_key(params) in runs:
        children.append(runs[linear_run_key(params)])
    key = pipeline_key()
    parent = None if key is None else log_pipeline_run(client, exp_id, params,
                                                       runs.get(key), key, children)
    for study, kinds, model_dir, identity in model_dirs:
        complete_model_run(client, uri, runs[identity], model_dir, parent, study, kinds,
                           evaluation_splits(params, study))
    if parent is not None and linear_run_key(params) in runs:
        client.set_tag(runs[linear_run_key(params)].info.run_id, PIPELINE_RUN, parent)
    return synced


def log_report(params: Mapping[str, Any]) -> None:
    """The report stage's tracking step (best effort: the report is already on disk)."""
    tic = time.perf_counter()
    if best_effort("logging", lambda: publish(params)) is not None:
        print(f"MLflow: pipeline run logged in {time.perf_counter() - tic:.1f} s")


def add_arguments(parser: Any) -> None:
    parser.add_argument("action", choices=["init", "sync"])


def run(params: Mapping[str, Any], args: Any) -> None:
    """``python -m robsens mlflow init|sync``.

    ``init`` runs before every pipeline (Snakemake's ``onstart``): a server that is down
    must not stop the study, whose results reach the disk first, so it only warns; a store
    that cannot be opened at all (a corrupt file, an unknown scheme) is a setting to fix
    before hours of compute go untracked, so it stops the pipeline with one line. ``sync``
    exists to reach the backend, so there any failure is an error (one line, exit 1).
    """
    uri = tracking_uri(params)
    try:
        if args.action == "init":
            try:
                _, exp = open_store(params)
            except StoreUnreachable as exc:
                warn("setup", exc)
                return
            print(f"MLflow experiment {params['mlflow']['experiment']!r} (id {exp}) ready at "
                  f"{uri}")
            return
        synced = publish(params)
    except StoreError as exc:
        raise SystemExit(f"error: {exc}; then rerun python -m robsens mlflow "
                         f"{args.action}") from None
    print(f"synced {synced} run(s) from disk to {uri}")
