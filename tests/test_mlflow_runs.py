"""MLflow as its users expect it, checked on the small study (built once by Snakemake
against a real MLflow server) through the server's REST API and MLflow's own loader:

- the experiment opens on the training-runs view (its kind tag);
- training runs were logged live: per-epoch metrics stamped one by one within the run's
  real start and end;
- the data splits are the runs' dataset inputs, with the manifest's digests;
- ``mlflow.pytorch.load_model("runs:/<id>/model")`` predicts the pipeline's logits bit for bit;
- one pipeline-level run holds the report and the evaluation params, and links the model
  runs and the linear study (which name it in a tag).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robsens.pipeline import paths

from .conftest import rest, small_study_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


def tags_of(r: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in r["data"].get("tags", [])}


@pytest.fixture(scope="module")
def logged(small_study: Path, mlflow_server: str) -> tuple[Path, dict, list[dict]]:
    exp = rest(mlflow_server, "experiments/get-by-name",
               query=f"experiment_name={small_study_params()['mlflow']['experiment']}")
    exp = exp["experiment"]
    runs = rest(mlflow_server, "runs/search", {"experiment_ids": [exp["experiment_id"]],
                                              "max_results": 1000})["runs"]
    return small_study, exp, runs


def training_runs(runs: list[dict]) -> list[dict]:
    """The corner-digit study's training runs (the spurious study's: tests/test_e2e.py)."""
    return [r for r in runs if tags_of(r).get("study") == "corner"]


def test_experiment_opens_on_the_training_runs_view(logged) -> None:
    _, exp, _ = logged
    tags = {t["key"]: t["value"] for t in exp["tags"]}
    assert tags["mlflow.experimentKind"] == "custom_model_development"


def test_training_is_logged_live(logged, mlflow_server: str) -> None:
    _, _, runs = logged
    epochs = small_study_params()["train"]["max_epochs"]
    for r in training_runs(runs):
        info = r["info"]
        points = rest(mlflow_server, "metrics/get-history",
                      query=f"run_id={info['run_id']}&metric_key=val_accuracy")["metrics"]
        stamps = [m["timestamp"] for m in sorted(points, key=lambda m: m["step"])]
        assert len(stamps) == epochs
        # each epoch stamped when it ended: strictly later than the one before, and all
        # within the run's real start and end
        assert stamps == sorted(set(stamps)), stamps
        assert info["start_time"] < stamps[0] and stamps[-1] <= info["end_time"]


def test_data_splits_are_dataset_inputs_with_their_digests(logged) -> None:
    project, _, runs = logged
    manifest = json.loads((project / paths.DATA_MANIFEST).read_text())["splits"]
    for r in training_runs(runs):
        inputs = r["inputs"]["dataset_inputs"]
        found = {d["dataset"]["name"]: (d["dataset"]["digest"], {t["key"]: t["value"]
                                                                 for t in d["tags"]})
                 for d in inputs}
        assert len(inputs) == len(found) == 4  # reruns add none
        for split, context in (("train", "training"), ("val", "validation"),
                               ("test", "evaluation"), ("probe", "evaluation")):
            digest, tags = found[split]
            assert digest == manifest[split]["md5"]
            assert tags["mlflow.data.context"] == context


def test_logged_model_predicts_like_the_pipelines(logged, mlflow_server: str,
                                                  monkeypatch) -> None:
    import mlflow.pytorch

    from robsens.blocks.model import load_trained

    project, _, runs = logged
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    with np.load(project / paths.split_path("test")) as raw:
        batch = torch.from_numpy(raw["x"][:64, None].astype(np.float32) / 255)
    for r in training_runs(runs):
        tags = tags_of(r)
        ours = load_trained(project / paths.MODEL.format(model=tags["model"], seed=tags["seed"]),
                            torch.device("cpu"))
        theirs = mlflow.pytorch.load_model(f"runs:/{r['info']['run_id']}/model")
        with torch.no_grad():
            assert torch.equal(theirs(batch), ours(batch)), tags["model"]
        info = mlflow.models.get_model_info(f"runs:/{r['info']['run_id']}/model")
        assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 1, 28, 28)


def test_one_pipeline_run_holds_the_report_and_links_the_runs(logged, mlflow_server) -> None:
    project, _, runs = logged
    (pipeline,) = [r for r in runs if tags_of(r).get("stage") == "pipeline"]
    run_id = pipeline["info"]["run_id"]
    files = {f["path"] for f in rest(mlflow_server, "artifacts/list",
                                     query=f"run_id={run_id}")["files"]}
    assert {"results.md", "summary.json", "figures"} <= files
    figures = rest(mlflow_server, "artifacts/list", query=f"run_id={run_id}&path=figures")
    assert {Path(f["path"]).name for f in figures["files"]} == {
        p.name for p in (project / paths.FIGURES_DIR).glob("*.png")}
    logged_params = {p["key"]: p["value"] for p in pipeline["data"]["params"]}
    params = small_study_params()
    assert logged_params["robustness.n_images"] == str(params["robustness"]["n_images"])
    assert logged_params["sensitivity.n_test"] == str(params["sensitivity"]["n_test"])
    assert logged_params["evaluate.batch_size"] == str(params["evaluate"]["batch_size"])
    summary = json.loads((project / paths.REPORT_SUMMARY).read_text())
    metrics = {m["key"]: m["value"] for m in pipeline["data"]["metrics"]}
    assert metrics["clean.erm.accuracy"] == pytest.approx(summary["clean.erm.accuracy"])
    children = [r for r in runs if tags_of(r).get("robsens.pipeline_run") == run_id]
    assert sorted(tags_of(r).get("model", "linear") for r in children) == sorted(
        [*params["corner"]["models"], *params["spurious"]["models"], "linear"])
    note = tags_of(pipeline)["mlflow.note.content"]
    assert all(r["info"]["run_id"] in note for r in children)
