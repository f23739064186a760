"""``python -m robsens mlflow init|sync`` against a backend that is down."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import free_port, tiny_params


def _mlflow(action: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    env = {"PATH": str(Path(sys.executable).parent),
           "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    return subprocess.run([sys.executable, "-m", "robsens", "mlflow", action], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)


def test_init_only_warns_so_the_pipeline_runs_on(tmp_path: Path) -> None:
    out = _mlflow("init", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "WARNING: MLflow setup skipped" in out.stdout and "Traceback" not in out.stderr


def test_sync_fails_with_one_line(tmp_path: Path) -> None:
    out = _mlflow("sync", tmp_path)
    assert out.returncode == 1
    assert out.stderr.startswith("error: MLflow backend") and out.stderr.count("\n") == 1
