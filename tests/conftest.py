"""Shared fixtures: a tiny copy of the project for end-to-end runs of the real tools."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COPIED = ["Snakefile", "dvc.yaml", "params.yaml", "workflow", "profiles", "src", ".dvc/config",
          ".dvcignore"]


def tiny_params() -> dict:
    """params.yaml scaled down so the whole DAG runs in about a minute on 2 cores."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["seeds"] = [0]
    params["data"].update(n_train=600, n_val=150, n_test=300, n_probe=100, corner_pool=150,
                          corner_fraction=0.3)
    params["train"].update(epochs=2, batch_size=64)
    params["model"].update(channels=[8, 16], embed_dim=32)
    params["report"]["examples_per_class"] = 2
    for hook in TINY_HOOKS:
        hook(params)
    return params


# Later sections (evaluation stages, methods) shrink their own params here.
TINY_HOOKS: list = []


def _tiny_robustness(params: dict) -> None:
    params["robustness"].update(n_images=200, corruptions=["gaussian_noise", "rotate", "fog"],
                                rfs_sigmas=[0.3, 0.8])


TINY_HOOKS.append(_tiny_robustness)


def _tiny_sensitivity(params: dict) -> None:
    params["sensitivity"].update(n_test=40, n_probe=100, n_examples=2, patch=7, n_probes=4)
    params["sensitivity"]["bench"].update(n_images=40)


TINY_HOOKS.append(_tiny_sensitivity)


def _tiny_linear(params: dict) -> None:
    linear = params["linear"]
    linear["model"].update(dim_core=3, dim_spurious=3)
    linear["sweep"].update(eps_rel={"max": 0.6, "num": 4}, sigma_ratio=[0.5, 1.0, 2.0])
    linear["finite_sample"].update(n_train=[100, 400], seeds=[0], sigma_ratio=[0.5, 2.0])


TINY_HOOKS.append(_tiny_linear)


def project_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    # The project's own copy of the package runs, not the checkout the tests came from: the
    # code that runs is the code whose files the pipeline declares as dependencies.
    env["PYTHONPATH"] = str(root / "src")
    env.pop("CI", None)  # tqdm and friends behave as for a user
    return env


def run(cmd: list[str], root: Path, env: dict[str, str] | None = None, check: bool = True
        ) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=root, env=env or project_env(root), capture_output=True,
                          text=True, timeout=1200)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def make_project(dest: Path, params: dict | None = None) -> Path:
    """A git + DVC project with the repo's pipeline files and tiny params."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / "params.yaml").write_text(yaml.safe_dump(params or tiny_params(), sort_keys=False))
    env = project_env(dest)
    run(["git", "init", "-q"], dest, env)
    run(["git", "config", "user.email", "t@example.com"], dest, env)
    run(["git", "config", "user.name", "robsens tests"], dest, env)
    (dest / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    return dest


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(base: str, endpoint: str, payload: dict | None = None, query: str = "") -> dict:
    """GET (payload None) or POST to the MLflow REST API."""
    url = f"{base}/api/2.0/mlflow/{endpoint}{'?' + query if query else ''}"
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


# Session scope: one server for the suite; each study logs to its own experiment.
@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """A real MLflow tracking server on 127.0.0.1 with a SQLite store."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port",
         str(port), "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--workers", "1"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("MLflow server did not start within 120 s")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def small_study_params() -> dict:
    """Two models (the baseline and FCL) and three epochs: a wide window between a training's
    first checkpoint and its end, for the crash test. Its own MLflow experiment."""
    params = tiny_params()
    params["models"] = {k: v for k, v in params["models"].items() if k in ("erm", "fcl")}
    params["train"]["epochs"] = 3
    params["mlflow"]["experiment"] = "robsens-small"
    return params


@pytest.fixture(scope="session")
def small_study(tmp_path_factory, mlflow_server: str) -> Path:
    """The small study built once by Snakemake (which records it in dvc.lock), logging to the
    real MLflow server. Shared: a test that changes the project restores it, except the
    forced reruns of tests/test_tracking_idempotent.py, which leave the same bytes.

    Python's import trace goes to every rule's log (``PYTHONPROFILEIMPORTTIME``), for the
    check that stages import only their computed code dependencies.
    """
    project = make_project(tmp_path_factory.mktemp("small"), small_study_params())
    env = project_env(project) | {"MLFLOW_TRACKING_URI": mlflow_server,
                                  "PYTHONPROFILEIMPORTTIME": "1"}
    run(["snakemake", "--cores", "2"], project, env)
    return project
