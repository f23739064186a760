"""Every expected failure is one line naming the cause and the fix, a non-zero exit and no
traceback: run as a user runs it (``python -m robsens <stage>`` in a project) and, for a
refusal before any job and a failing job, as Snakemake runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from robsens.core.errors import InputError, reading

from .conftest import ROOT, free_port, make_project, project_env, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

SHARED = ROOT.parent / "shared" / "datasets" / "mnist"  # the real MNIST test split, if here


def robsens(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robsens", *args], cwd=project,
                          env=project_env(project), capture_output=True, text=True, timeout=600)


def one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The run failed with exactly one ``error:`` line holding every needle, and no traceback."""
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def closed_mirror() -> str:
    """A URL nothing answers (a free port on 127.0.0.1): a failed download without network."""
    return f"http://127.0.0.1:{free_port()}/mnist/"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> Path:
    """A tiny project with its corner-digit splits built once; tests copy what they need."""
    project = make_project(tmp_path_factory.mktemp("synth"))
    proc = robsens(project, "synthesize")
    assert proc.returncode == 0, proc.stderr
    return project


def project_with_data(tmp_path: Path, synthesized: Path) -> Path:
    project = make_project(tmp_path / "p")
    shutil.copytree(synthesized / "data", project / "data")
    return project


def with_params(tmp_path: Path, change) -> Path:
    params = tiny_params()
    change(params)
    return make_project(tmp_path / "p", params)


needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


@needs_no_gpu
@pytest.mark.parametrize("command", [["validate"], ["evaluate", "--model", "erm", "--seed", "0"]])
def test_cuda_without_gpu_cli(tmp_path: Path, command: list[str]) -> None:
    project = with_params(tmp_path, lambda p: p.update(device="cuda"))
    one_error_line(robsens(project, *command), "device is 'cuda'", "device: cpu")


@needs_no_gpu
def test_cuda_without_gpu_refused_by_snakemake_before_any_job(tmp_path: Path) -> None:
    project = with_params(tmp_path, lambda p: p.update(device="cuda"))
    proc = subprocess.run(["snakemake", "--cores", "1"], cwd=project, env=project_env(project),
                          capture_output=True, text=True, timeout=600)
    one_error_line(proc, "device is 'cuda'", "device: auto")
    assert not (project / "logs").exists() and not (project / "data").exists()


def unreachable_mnist(params: dict, mirrors: list[str]) -> None:
    params["data"]["source"] = "mnist"
    params["data"]["mnist"].update(mirrors=mirrors, local_dir=None, cache_dir="cache/mnist")


def test_mnist_unreachable(tmp_path: Path) -> None:
    mirrors = [closed_mirror(), closed_mirror()]
    project = with_params(tmp_path, lambda p: unreachable_mnist(p, mirrors))
    line = one_error_line(robsens(project, "synthesize"), *mirrors, "data.mnist.local_dir",
                          "data.mnist.test_split_only")
    assert "refused" in line.lower()
    assert not list((project / "cache").rglob("*.gz")), "a failed download left a file"


def test_mnist_unreachable_under_snakemake_shows_the_line(tmp_path: Path) -> None:
    """A failing job: its log holds the one line, and Snakemake's output shows it
    (``show-failed-logs`` in profiles/default)."""
    mirror = closed_mirror()
    project = with_params(tmp_path, lambda p: unreachable_mnist(p, [mirror]))
    proc = subprocess.run(["snakemake", "--cores", "1", "data/corner/manifest.json"],
                          cwd=project, env=project_env(project), capture_output=True, text=True,
                          timeout=600)
    one_error_line(proc, mirror, "data.mnist.local_dir")
    log = (project / "logs" / "synthesize.log").read_text()
    one_error_line(subprocess.CompletedProcess([], 1, log, ""), mirror, "data.mnist.local_dir")


def test_mnist_checksum_mismatch(tmp_path: Path) -> None:
    local = tmp_path / "mnist"
    local.mkdir()
    params = tiny_params()
    files = params["data"]["mnist"]["files"]
    for key in ("test_images", "test_labels"):  # gzip header, then garbage: a corrupt .gz
        (local / files[key]["name"]).write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
    params["data"]["source"] = "mnist"
    params["data"]["mnist"].update(local_dir=str(local), test_split_only=True)
    project = make_project(tmp_path / "p", params)
    one_error_line(robsens(project, "synthesize"), files["test_images"]["name"],
                   "does not match", "data.mnist.files.test_images.md5", "replace it")


@pytest.mark.parametrize("local", ["empty", "shared"])
def test_mnist_local_dir_without_train_files(tmp_path: Path, local: str) -> None:
    """Only the test split at hand (the real one when this machine has it): the line says
    which file is missing and that ``test_split_only`` builds everything from the test split."""
    if local == "shared" and not SHARED.is_dir():
        pytest.skip("shared MNIST test split absent")
    folder = SHARED if local == "shared" else tmp_path / "empty"
    folder.mkdir(exist_ok=True)

    def change(params: dict) -> None:
        params["data"]["source"] = "mnist"
        params["data"]["mnist"].update(local_dir=str(folder), test_split_only=False,
                                       mirrors=[closed_mirror()])

    project = with_params(tmp_path, change)
    one_error_line(robsens(project, "synthesize"), "train-images-idx3-ubyte.gz",
                   "data.mnist.test_split_only: true")


def test_missing_split(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    one_error_line(robsens(project, "corrupt"), "data/corner/test.npz", "is missing",
                   "stage 'synthesize'", "snakemake")


def test_corrupt_split(tmp_path: Path, synthesized: Path) -> None:
    project = project_with_data(tmp_path, synthesized)
    split = project / "data" / "corner" / "test.npz"
    split.write_bytes(split.read_bytes()[: split.stat().st_size // 2])
    one_error_line(robsens(project, "corrupt"), "data/corner/test.npz", "corrupt",
                   "stage 'synthesize'", "delete it")


def test_corrupt_json(tmp_path: Path, synthesized: Path) -> None:
    project = project_with_data(tmp_path, synthesized)
    manifest = project / "data" / "corner" / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    one_error_line(robsens(project, "corrupt"), "data/corner/manifest.json", "corrupt",
                   "stage 'synthesize'", "delete it and rerun snakemake")


def test_truncated_model(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p")
    model = project / "results" / "models" / "erm" / "seed0" / "model.pt"
    model.parent.mkdir(parents=True)
    torch.save({"state_dict": {"w": torch.zeros(256, 256)}, "model_cfg": {}}, model)
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    one_error_line(robsens(project, "evaluate", "--model", "erm", "--seed", "0"),
                   "results/models/erm/seed0/model.pt", "corrupt", "stage 'train'",
                   "delete it and rerun snakemake")


@pytest.mark.parametrize("how", ["parent_is_a_file", "read_only_dir"])
def test_unwritable_output(tmp_path: Path, how: str) -> None:
    """The tests may run as root, whom permission bits do not stop: the portable way to make
    an output's folder impossible to create is a regular file where the folder should be.
    The permission-bits variant runs where the tests are not root."""
    project = make_project(tmp_path / "p")
    blocked = project / "data" / "corner"
    blocked.parent.mkdir()
    if how == "parent_is_a_file":
        blocked.write_text("not a folder")
    else:
        if os.geteuid() == 0:
            pytest.skip("root ignores permission bits")
        blocked.mkdir()
        blocked.chmod(0o555)
    try:
        one_error_line(robsens(project, "synthesize"), "cannot write data/corner/",
                       "data/corner", "writable directory")
    finally:
        if blocked.is_dir():
            blocked.chmod(0o755)


def test_a_bug_inside_a_read_is_not_called_a_corrupt_file() -> None:
    """Only what a reader raises on bad bytes becomes an input error; a bug passes through
    (with its traceback, as the CLI handles UserError only)."""
    with pytest.raises(TypeError, match="a bug"), reading("some/file.json"):
        raise TypeError("a bug")
    with pytest.raises(InputError, match=r"some/file\.json is corrupt"), \
            reading("some/file.json"):
        json.loads("{")


def test_a_named_runs_command_outside_its_root(tmp_path: Path) -> None:
    """A named run's params used from the project root would read the default study's files
    (and log them to the run's experiment): one line naming the run's folder, nothing done."""
    params = tiny_params()
    params["run_name"] = "smoke"
    project = make_project(tmp_path / "project", params)
    one_error_line(robsens(project, "mlflow", "sync"), "'smoke'", "cd runs/smoke")
    assert not (project / "mlflow.db").exists()
    (project / "runs/smoke").mkdir(parents=True)
    (project / "runs/smoke/params.yaml").write_bytes((project / "params.yaml").read_bytes())
    proc = subprocess.run([sys.executable, "-m", "robsens", "mlflow", "init"],  # from there
                          cwd=project / "runs/smoke", env=project_env(project),  # it runs
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
