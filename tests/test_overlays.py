"""Config overlays and run names through the real Snakemake (dry runs: the config is
resolved, validated and written before any job, which is what is checked here; the smoke
overlay's full run is in tests/test_e2e.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from robsens.pipeline.runs import run_params

from .conftest import ROOT, run

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


def dry(project: Path, *args: str, check: bool = True):
    return run(["snakemake", "-n", "--cores", "2", *args], project, check=check)


def test_an_overlay_runs_under_its_name_with_its_own_params(tiny_project: Path) -> None:
    out = dry(tiny_project, "--configfile", "configs/mnist.yaml")
    written = yaml.safe_load((tiny_project / "runs/mnist/params.yaml").read_text())
    assert written["data"]["source"] == "mnist" and written["run_name"] == "mnist"
    # project-relative paths now relative to the run's root, where its jobs work
    assert written["data"]["mnist"]["local_dir"] == "../../../shared/datasets/mnist"
    assert written["mlflow"]["tracking_uri"] == "sqlite:///../../mlflow.db"
    assert "synthesize" in out.stdout
    assert not (tiny_project / "data").exists()  # the default study is untouched


def test_config_values_and_model_removal(tiny_project: Path) -> None:
    dry(tiny_project, "--config", "run_name=quick", "seeds=[3,4]", "models={fcl: null}")
    written = yaml.safe_load((tiny_project / "runs/quick/params.yaml").read_text())
    assert written["seeds"] == [3, 4] and "fcl" not in written["models"]
    assert "erm" in written["models"]


def test_an_unnamed_overlay_is_refused(tiny_project: Path) -> None:
    out = dry(tiny_project, "--config", "seeds=[1]", check=False)
    assert out.returncode != 0
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "run_name" in lines[0] and "Traceback" not in out.stderr


def test_an_invalid_overlay_names_the_key(tiny_project: Path) -> None:
    out = dry(tiny_project, "--config", "run_name=bad", "threads=0", check=False)
    assert out.returncode != 0 and "'threads'" in out.stderr and "Traceback" not in out.stderr
    assert not (tiny_project / "runs/bad").exists()  # nothing written before validation


def test_absolute_paths_stay_absolute() -> None:
    config = yaml.safe_load((ROOT / "params.yaml").read_text())
    config["data"]["mnist"]["cache_dir"] = "/data/mnist"
    config["mlflow"]["tracking_uri"] = "sqlite:////srv/mlflow.db"
    params = run_params(config, Path("runs/x"))
    assert params["data"]["mnist"]["cache_dir"] == "/data/mnist"
    assert params["mlflow"]["tracking_uri"] == "sqlite:////srv/mlflow.db"
