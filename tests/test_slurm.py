"""The study on a real Slurm cluster, through workflow/profiles/slurm.

Needs a running Slurm: ``scripts/slurm-local.sh`` starts a single-node one (``./dev test``
does, when it can). Marked ``slurm``, so only ``pytest -m slurm`` (or ``./dev test`` after a
successful setup) selects it. One Slurm run of the small study checks: every job went
through sbatch (Slurm's own job-completion record lists it), a training job cancelled with
scancel mid-run is submitted again and resumes from its checkpoint, the models and the
resumed model's metrics equal a local run's byte for byte, the jobs logged to the shared
MLflow server, and a second run has nothing to do.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from robsens.pipeline import paths

from .conftest import ROOT, keep_models, make_project, project_env, rest, run, tiny_params

pytestmark = pytest.mark.slurm

SETUP = ROOT / "scripts" / "slurm-local.sh"
# The local cluster's partition and no account; squeue for job states (there is no
# accounting database); status checks from 2 s after a submission instead of 40.
SLURM_RUN = ["snakemake", "--profile", "workflow/profiles/slurm", "--jobs", "2",
             "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2"]
# "Job 5 has been submitted with SLURM jobid 17 (log: .../slurm_logs/rule_train/fcl_0/17.log)."
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+?)/(\S*)\)")
CANCELLED_MODEL = "fcl"
EVALUATIONS = ("clean", "robustness", "sensitivity")  # the metrics files of a corner model


def slurm_params() -> dict:
    """The tiny study with two models. ``device: cpu``: the local cluster has no GPU, so no
    job asks for one. Twelve epochs: fcl trains for about 15 s, time to cancel it between its
    first checkpoint and its end. Training runs logged live, as on a cluster (the cancelled
    job's retry reopens its run). No spurious-background study: its stages are jobs of the
    same kind (tests/test_e2e.py runs them)."""
    params = tiny_params()
    keep_models(params, ("erm", "fcl"))
    params["spurious"]["models"] = []
    params["device"] = "cpu"
    params["train"]["max_epochs"] = 12
    params["mlflow"]["experiment"] = "robsens-slurm"
    params["mlflow"]["log_training"] = "live"
    return params


def jobcomp_records() -> dict[str, dict[str, str]]:
    """Slurm's job-completion record (jobcomp/filetxt), by job id: one line of KEY=VALUE per
    finished job, at the JobCompLoc slurmctld reports."""
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                            check=True).stdout
    location = re.search(r"^JobCompLoc\s*=\s*(\S+)", config, re.M)
    assert location, "slurm.conf sets no JobCompLoc (scripts/slurm-local.sh writes one)"
    records = {}
    for line in Path(location.group(1)).read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        records[fields["JobId"]] = fields
    return records


def cancel_training(project: Path, log: Path, proc: subprocess.Popen) -> str:
    """Once the model's training job has written a checkpoint, scancel it; its Slurm id."""
    checkpoints = project / "results" / "checkpoints" / CANCELLED_MODEL
    deadline = time.time() + 900
    job_id = None
    while time.time() < deadline and proc.poll() is None:
        if job_id is None:
            job_id = next((m.group(1) for m in SUBMITTED.finditer(log.read_text())
                           if m.group(2) == "train" and m.group(3).startswith(
                               f"{CANCELLED_MODEL}_0/")),
                          None)
        if job_id is not None and any(checkpoints.rglob("*.pt")):
            subprocess.run(["scancel", job_id], check=True)
            return job_id
        time.sleep(0.2)
    raise AssertionError(f"no {CANCELLED_MODEL} checkpoint to cancel after:\n"
                         f"{log.read_text()[-4000:]}")


def test_study_on_slurm(tmp_path: Path, mlflow_server: str) -> None:
    if subprocess.run([SETUP, "status"], capture_output=True).returncode != 0:
        pytest.fail("no local Slurm: start it with scripts/slurm-local.sh (as root)")
    params = slurm_params()
    # the local reference (both models, the resumed one's evaluations) is computed while
    # the Slurm run waits between status checks
    local = make_project(tmp_path / "local", params)
    reference = [paths.fill(paths.MODEL, model=m, seed=0) for m in params["corner"]["models"]]
    reference += [paths.fill(paths.METRICS, model=CANCELLED_MODEL, seed=0, kind=kind)
                  for kind in EVALUATIONS]
    local_run = subprocess.Popen(["snakemake", "--cores", "1", *map(str, reference)], cwd=local,
                                 env=project_env(local), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)

    project = make_project(tmp_path / "slurm", params)
    env = project_env(project) | {"MLFLOW_TRACKING_URI": mlflow_server,
                                  "ROBSENS_SLURM_PARTITION": "debug",
                                  "ROBSENS_SLURM_ACCOUNT": ""}
    log = tmp_path / "slurm-run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(SLURM_RUN, cwd=project, env=env, stdout=out,
                                stderr=subprocess.STDOUT, text=True)
        cancelled = cancel_training(project, log, proc)
        assert proc.wait(timeout=1500) == 0, log.read_text()[-6000:]
    local_out, _ = local_run.communicate(timeout=1500)
    assert local_run.returncode == 0, local_out[-6000:]
    text = log.read_text()

    # Every job went through sbatch, Slurm recorded each, and the cancelled one was retried.
    submitted = {m.group(1): m.group(2) for m in SUBMITTED.finditer(text)}
    planned = int(re.search(r"^total\s+(\d+)", text, re.M).group(1)) - 1  # `all` runs here
    assert sorted(submitted.values()).count("train") == 3  # erm, fcl, fcl again
    assert len(submitted) == planned + 1
    records = jobcomp_records()
    for job_id, rule in submitted.items():
        assert job_id in records, f"{rule} job {job_id} not in Slurm's job-completion record"
        assert records[job_id]["WorkDir"] == str(project)
        expected = "CANCELLED" if job_id == cancelled else "COMPLETED"
        assert records[job_id]["JobState"] == expected, records[job_id]

    # The retry resumed from the checkpoint the cancelled job left.
    train_log = (project / "logs" / "train" / CANCELLED_MODEL / "seed0.log").read_text()
    resumed = re.search(rf"resuming {CANCELLED_MODEL} seed 0 from epoch (\d+)", train_log)
    assert resumed and int(resumed.group(1)) > 0, train_log

    # Same bytes as the local run: both models and the resumed model's evaluations; every
    # model was evaluated.
    for path in reference:
        assert (project / path).read_bytes() == (local / path).read_bytes(), path
    assert all((project / paths.fill(paths.METRICS, model=m, seed=0, kind=kind)).is_file()
               for m in params["corner"]["models"] for kind in EVALUATIONS)

    # The jobs logged to the shared tracking server.
    exp = rest(mlflow_server, "experiments/get-by-name", query="experiment_name=robsens-slurm")
    runs = rest(mlflow_server, "runs/search",
                {"experiment_ids": [exp["experiment"]["experiment_id"]]}).get("runs", [])
    assert {r["info"]["run_name"] for r in runs} >= {"erm-seed0", f"{CANCELLED_MODEL}-seed0"}

    # Nothing left to do, and nothing submitted.
    again = run(SLURM_RUN, project, env)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert not SUBMITTED.search(again.stdout + again.stderr)
    assert len(jobcomp_records()) == len(records)
