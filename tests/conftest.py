"""Shared fixtures: a tiny copy of the project for end-to-end runs of the real tools."""

from __future__ import annotations

import copy
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

from robsens.pipeline.runs import drop_removed_models, merge

ROOT = Path(__file__).resolve().parents[1]
# Every job a test starts runs cold unless the test opts in (project_env(root, warm_dir),
# tests/test_warm.py): a warm server costs a few seconds of imports per copy of the package.
os.environ["ROBSENS_WARM"] = "0"
BIN = Path(sys.executable).parent
COPIED = ["Snakefile", "dvc.yaml", "params.yaml", "workflow", "profiles", "src", ".dvc/config",
          ".dvcignore", "configs"]


def overlay(base: dict, patch: dict) -> dict:
    """``base`` with ``patch`` laid over it as Snakemake lays --configfile over params.yaml:
    mappings merge key by key, anything else is replaced; models set to null are dropped."""
    merged = copy.deepcopy(base)
    merge(merged, copy.deepcopy(patch))
    drop_removed_models(merged)
    return merged


def keep_models(params: dict, names: tuple[str, ...]) -> dict:
    """``params`` with only the models ``names`` (in every model set), in place."""
    params["models"] = {k: v if k in names else None for k, v in params["models"].items()}
    drop_removed_models(params)  # as an overlay's nulls: from `models` and every model set
    return params


def tiny_params() -> dict:
    """The smoke study (params.yaml + configs/smoke.yaml: the whole DAG in about a minute on
    2 cores, one model per role) as the default study of a test project."""
    params = overlay(yaml.safe_load((ROOT / "params.yaml").read_text()),
                     yaml.safe_load((ROOT / "configs/smoke.yaml").read_text()))
    params["run_name"] = ""
    return params


def project_env(root: Path, warm_dir: Path | None = None) -> dict[str, str]:
    """The environment of a user in project ``root``. Jobs start cold (as in every test) unless
    ``warm_dir`` is given (a folder from the ``warm_dir`` fixture): a warm server loads the
    project's own copy of the package, which costs a few seconds per project and pays off only
    over many jobs (tests/test_warm.py tests it; the end-to-end studies run warm, as users
    do)."""
    env = dict(os.environ)
    if warm_dir is not None:
        env.pop("ROBSENS_WARM", None)
        env["ROBSENS_WARM_DIR"] = str(warm_dir)
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


# Fixtures that build a study once per worker process (session or module scope). Under
# pytest-xdist every test that uses one runs on one worker (an xdist group per fixture);
# spread over both workers, each would build its own copy (the small study twice, 70-130 s).
SHARED_STUDIES = ("small_study", "snakemake_project", "pushed", "outputs")


@pytest.hookimpl(tryfirst=True)  # before xdist's hook, which reads the groups into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``./dev test`` runs two workers, ``--dist loadgroup``) the tests of
    each shared study (:data:`SHARED_STUDIES`) run on one worker: it is built once, and the
    tests that change it and put it back never overlap. The Slurm test, the longest single
    test, goes first: xdist hands out the largest group (the small study's) first, then tests
    in this order, so the two long ones start at once on different workers instead of one
    ending the run alone. Tests are also marked ``unit`` or ``e2e`` (see below)."""
    for item in items:
        shared = [name for name in SHARED_STUDIES if name in getattr(item, "fixturenames", ())]
        if shared:
            item.add_marker(pytest.mark.xdist_group(shared[0]))
        # a module that starts projects, servers or subprocesses says so (pytestmark e2e or
        # slurm); every other test runs in-process: the fast inner loop, ./dev test --fast
        if not (item.get_closest_marker("e2e") or item.get_closest_marker("slurm")):
            item.add_marker(pytest.mark.unit)
    items.sort(key=lambda item: item.get_closest_marker("slurm") is None)


@pytest.fixture(scope="session")
def warm_dir(tmp_path_factory) -> Iterator[Path]:
    """A folder for the warm servers of the tests' studies; they stop at the session's end
    (a server exits when its socket is deleted)."""
    folder = tmp_path_factory.mktemp("warm")
    yield folder
    for sock in folder.glob("*.sock"):
        sock.unlink(missing_ok=True)


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
    first checkpoint and its end, for the crash test. Its own MLflow experiment; training
    runs logged live (the smoke study of tests/test_e2e.py checks the default, logging them
    in the report stage)."""
    params = tiny_params()
    keep_models(params, ("erm", "fcl"))
    params["train"]["max_epochs"] = 3
    params["mlflow"]["experiment"] = "robsens-small"
    params["mlflow"]["log_training"] = "live"
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
