"""A pipeline killed with SIGKILL recovers with one step and loses no finished work.

The documented step (docs/operations.md, crash recovery) is ``snakemake --unlock`` then the
usual run (the workflow profile reruns incomplete jobs); ``./dev run`` takes it by itself when
the lock is stale (``./dev unlock`` alone, here).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from robsens.core.config import model_names
from robsens.pipeline import paths
from robsens.pipeline.stages import STAGES

from .conftest import ROOT, make_project, project_env, run, small_study_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


def snakemake_project(dest: Path, params: dict) -> Path:
    """The tiny project without DVC: this is about Snakemake alone (a DVC hook that relinks
    outputs after a run would give them new mtimes with the same bytes)."""
    project = make_project(dest, params)
    shutil.rmtree(project / ".dvc")
    return project.resolve()


def processes_in(project: Path) -> list[int]:
    """Live processes whose working directory is ``project``."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "cwd")) == project and (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:  # gone, or not ours to read
            continue
    return pids


def incomplete_outputs(project: Path) -> set[str]:
    """Outputs Snakemake marked as started but not finished (its file persistence)."""
    root = project / ".snakemake" / "incomplete"
    return {base64.urlsafe_b64decode(f.name).decode() for f in root.rglob("*")
            if f.is_file() and not f.name.startswith(("@", "migration"))}


def finished_outputs(project: Path, params: dict) -> dict[str, int]:
    """mtime (ns) of every output file of the jobs Snakemake had finished."""
    incomplete = incomplete_outputs(project)
    jobs = []
    for stage in STAGES:
        fills = ([{"model": m, "seed": s} for m in model_names(params, stage.model_set)
                  for s in params["seeds"]] if stage.wildcards else [{}])
        jobs += [(stage.benchmark.format(**w), [o.path.format(**w) for o in stage.outs])
                 for w in fills]
    mtimes = {}
    for benchmark, outs in jobs:
        if not (project / benchmark).is_file() or incomplete & set(outs):
            continue
        for out in outs:
            files = [project / out] if (project / out).is_file() else \
                [f for f in (project / out).rglob("*") if f.is_file()]
            assert files, out
            mtimes |= {str(f.relative_to(project)): f.stat().st_mtime_ns for f in files}
    return mtimes


def test_killed_pipeline_resumes_and_matches_an_uninterrupted_run(tmp_path: Path,
                                                                   small_study: Path) -> None:
    params = small_study_params()  # the uninterrupted reference is the shared small study
    expected = json.loads((small_study / paths.REPORT_SUMMARY).read_text())

    tic = time.perf_counter()
    project = snakemake_project(tmp_path / "crashed", params)
    env = project_env(project)
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(["snakemake", "--cores", "2"], cwd=project, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    checkpoints = project / paths.CHECKPOINTS_DIR

    def a_corner_checkpoint() -> bool:  # not another study's (the contrast sweep's, say)
        return any(list((checkpoints / m / "seed0").glob("*.pt"))
                   for m in params["corner"]["models"])

    deadline = time.time() + 600
    while not a_corner_checkpoint() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
    proc.wait()
    deadline = time.time() + 30
    while processes_in(project) and time.time() < deadline:
        time.sleep(0.1)
    assert not processes_in(project)
    assert list((project / ".snakemake/locks").iterdir()), "the kill left no lock to recover from"

    interrupted = [m for m in params["corner"]["models"]
                   if list((checkpoints / m / "seed0").glob("*.pt"))
                   and not (project / f"benchmarks/train/{m}/seed0.tsv").exists()]
    assert interrupted, "no training was interrupted after its first checkpoint"
    kept = finished_outputs(project, params)
    assert any(k.startswith(str(paths.DATA_DIR)) for k in kept), kept

    run(["snakemake", "--unlock"], project, env)  # the documented recovery step
    run(["snakemake", "--cores", "2"], project, env)
    recovered_s = time.perf_counter() - tic

    now = {k: (project / k).stat().st_mtime_ns for k in kept}
    assert now == kept, "outputs of finished jobs were rewritten"
    for model in interrupted:
        log = (project / f"logs/train/{model}/seed0.log").read_text()
        assert f"resuming {model} seed 0 from epoch" in log, log[-2000:]
    assert json.loads((project / paths.REPORT_SUMMARY).read_text()) == expected

    from mlflow.tracking import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name(params["mlflow"]["experiment"])
    keys = [r.data.tags["robsens.run_key"] for r in client.search_runs([exp.experiment_id])]
    # + the linear study and the pipeline run
    assert len(keys) == len(set(keys)) == (len(params["corner"]["models"]) + 2
                                            + len(params["spurious"]["models"]))
    print(f"killed + recovered {recovered_s:.0f} s; "
          f"interrupted trainings {interrupted}; {len(kept)} finished outputs kept")


def dev_project(tmp_path: Path) -> Path:
    """A directory with ./dev, a one-rule Snakefile and a lock as a killed run leaves it."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "dev", tmp_path / "dev")
    (tmp_path / "Snakefile").write_text('rule all:\n    output: "x"\n    shell: "touch x"\n')
    (tmp_path / ".snakemake/locks").mkdir(parents=True)
    (tmp_path / ".snakemake/locks/0.input.lock").write_text(str(tmp_path / "x") + "\n")
    return tmp_path.resolve()


def test_dev_refuses_to_unlock_while_snakemake_runs_here(tmp_path: Path) -> None:
    project = dev_project(tmp_path)
    env = project_env(project)
    fake = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=project)
    try:
        time.sleep(0.3)  # let bash exec
        out = run(["./dev", "unlock"], project, env, check=False)
    finally:
        fake.kill()
        fake.wait()
    assert out.returncode == 1
    assert f"snakemake is running in this directory (pid {fake.pid})" in out.stderr
    assert list((project / ".snakemake/locks").iterdir())


def test_dev_removes_a_stale_lock_in_one_line(tmp_path: Path) -> None:
    project = dev_project(tmp_path / "project")
    elsewhere = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=tmp_path)
    try:
        time.sleep(0.3)
        out = run(["./dev", "unlock"], project)
    finally:
        elsewhere.kill()
        elsewhere.wait()
    assert out.stdout.strip().splitlines() == [
        "Stale Snakemake lock (no snakemake runs here, e.g. after a crash): snakemake --unlock"]
    assert not any((project / ".snakemake/locks").glob("*"))
    tic = time.perf_counter()
    assert run(["./dev", "unlock"], project).stdout == ""  # no lock: nothing to check
    assert time.perf_counter() - tic < 1
