"""``python -m robsens mlflow init|sync`` and the jobs, against a backend that is down and
a store that cannot be opened: one line naming cause and fix, and no result lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, free_port, make_project, project_env, run, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


def _mlflow(action: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT / "src"),
           "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nothing listens there
           "ROBSENS_WARM": "0"}
    return subprocess.run([sys.executable, "-m", "robsens", "mlflow", action], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def test_init_only_warns_so_the_pipeline_runs_on(tmp_path: Path) -> None:
    out = _mlflow("init", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "WARNING: MLflow setup skipped" in out.stdout and "Traceback" not in out.stderr


def test_sync_fails_with_one_line(tmp_path: Path) -> None:
    out = _mlflow("sync", tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith("error: MLflow server") and out.stderr.count("\n") == 1


def test_a_store_that_cannot_be_opened(tmp_path: Path) -> None:
    """A corrupt SQLite file: the training job (logging live) keeps its results and warns in
    one line; `mlflow init` (which starts every pipeline) and `mlflow sync` stop with one
    line."""
    params = tiny_params()
    params["mlflow"]["log_training"] = "live"
    project = make_project(tmp_path / "p", params)
    (project / "broken.db").write_text("not a database\n")
    env = project_env(project) | {"MLFLOW_TRACKING_URI": "sqlite:///broken.db"}
    run([sys.executable, "-m", "robsens", "synthesize"], project, env)
    train = run([sys.executable, "-m", "robsens", "train", "--model", "erm", "--seed", "0"],
                project, env)
    (warning,) = [line for line in train.stdout.splitlines() if "MLflow" in line]
    assert warning.startswith("WARNING: MLflow logging skipped (MLflow store sqlite:///broken.db"
                              " cannot be opened (DatabaseError")
    assert "mlflow sync" in warning and "Traceback" not in train.stderr
    assert (project / "results/models/erm/seed0/model.pt").is_file()
    evaluate = run([sys.executable, "-m", "robsens", "evaluate", "--model", "erm", "--seed",
                    "0"], project, env)
    assert "MLflow" not in evaluate.stdout + evaluate.stderr  # evaluation jobs never log
    for action in ("init", "sync"):
        out = run([sys.executable, "-m", "robsens", "mlflow", action], project, env,
                  check=False)
        assert out.returncode == 1, out.stdout
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.startswith("error: MLflow store sqlite:///broken.db cannot be opened")
        assert "MLFLOW_TRACKING_URI" in out.stderr
    # once the store is fixed, sync logs what the jobs could not
    sync = run([sys.executable, "-m", "robsens", "mlflow", "sync"], project)
    assert "synced 1 run(s)" in sync.stdout
