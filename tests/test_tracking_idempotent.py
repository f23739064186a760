"""Reruns update the MLflow runs they logged: one run per trained model, one pipeline run
per distinct report, one point per step.

The small study, built through Snakemake against a real MLflow server (the shared fixture),
has every stage that logs to MLflow forced again (the trainings, which log live here, the
linear study and the report, which logs the rest) through Snakemake, then once more through
``dvc repro -f``; the runs are counted over the REST API. The evaluations log nothing
themselves, so they are not rerun (their outputs are only touched: the retrained models have
the same bytes but newer times).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from .conftest import project_env, rest, run, small_study_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

# The stages that log MLflow runs: forced again, each must update its runs (report last).
LOGGING_STAGES = ("train", "spurious_train", "linear", "report")


def tags_of(r: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in r["data"].get("tags", [])}


def history(base: str, run_id: str, key: str) -> list[int]:
    points = rest(base, "metrics/get-history", query=f"run_id={run_id}&metric_key={key}")
    return sorted(m["step"] for m in points.get("metrics", []))


def test_forced_reruns_update_the_same_runs(small_study: Path, mlflow_server: str) -> None:
    params, project = small_study_params(), small_study
    env = project_env(project) | {"MLFLOW_TRACKING_URI": mlflow_server}
    tic = time.perf_counter()
    forced = run(["snakemake", "--cores", "2", "--forcerun", *LOGGING_STAGES, "--until",
                  *LOGGING_STAGES[:-1]], project, env)
    assert "Nothing to be done" not in forced.stdout + forced.stderr
    run(["snakemake", "--touch", "--cores", "1"], project, env)
    report = run(["snakemake", "--cores", "2", "--forcerun", "report"], project, env)
    assert set(re.findall(r"^(?:local)?rule (\w+):", report.stderr, re.M)) == {"report", "all"}
    logs = "".join(f.read_text() for f in sorted((project / "logs").rglob("*.log")))
    dvc = run(["dvc", "repro", "-f", "-s", *LOGGING_STAGES], project, env).stdout
    assert "Running stage 'train@erm-0'" in dvc and "Running stage 'linear'" in dvc
    assert "Running stage 'report'" in dvc and "Running stage 'evaluate" not in dvc
    for out in (logs, dvc):  # logging failures only warn: make sure there were none
        assert "WARNING: MLflow" not in out
        assert out.count("MLflow: updating run") == len(params["corner"]["models"]) + len(
            params["spurious"]["models"])
        assert "MLflow: created run" not in out
    print(f"forced through Snakemake and DVC: {time.perf_counter() - tic:.0f} s")

    exp = rest(mlflow_server, "experiments/get-by-name",
               query=f"experiment_name={params['mlflow']['experiment']}")["experiment"]
    runs = rest(mlflow_server, "runs/search", {"experiment_ids": [exp["experiment_id"]],
                                              "max_results": 1000})["runs"]
    training = [r for r in runs if tags_of(r).get("study") == "corner"]
    spurious = [r for r in runs if tags_of(r).get("study") == "spurious"]
    linear = [r for r in runs if tags_of(r).get("stage") == "linear"]
    pipeline = [r for r in runs if tags_of(r).get("stage") == "pipeline"]
    assert len(training) == len(params["corner"]["models"]) * len(params["seeds"]), \
        sorted(tags_of(r)["robsens.run_key"] for r in training)
    assert len(spurious) == len(params["spurious"]["models"]) * len(params["seeds"])
    # the same report: the pipeline run of the first build is updated, not duplicated
    assert len(linear) == len(pipeline) == 1
    assert len(runs) == len(training) + len(spurious) + 2
    keys = [tags_of(r)["robsens.run_key"] for r in runs]
    assert len(set(keys)) == len(keys)

    epochs = list(range(1, params["train"]["max_epochs"] + 1))
    for r in training:
        run_id = r["info"]["run_id"]
        assert r["info"]["status"] == "FINISHED"
        assert history(mlflow_server, run_id, "val_accuracy") == epochs
        assert history(mlflow_server, run_id, "train_loss") == epochs
        for key in ("clean.accuracy", "robustness.mean_corrupted_accuracy",
                    "sensitivity.alignment_gradient"):
            assert history(mlflow_server, run_id, key) == [0], key
        files = rest(mlflow_server, "artifacts/list", query=f"run_id={run_id}")["files"]
        assert {"history.json", "clean.json", "robustness.json",
                "sensitivity.json"} <= {f["path"] for f in files}
        assert len(r["inputs"]["dataset_inputs"]) == 4

    (study,) = linear
    for m in study["data"]["metrics"]:
        if m["key"] != "runtime_s":  # a new measurement on every run, so a new point
            assert history(mlflow_server, study["info"]["run_id"], m["key"]) == [0], m["key"]
