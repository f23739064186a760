"""One GPU per job on one machine (robsens.core.runtime.claim_gpu): real processes holding real
flocks, with an injected device count (no GPU needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from robsens.core import runtime

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

ROOT = Path(__file__).resolve().parents[1]

# A job: claim one of `count` slots, report when it got which, hold it `hold` seconds.
JOB = """
import sys, time
from pathlib import Path
from robsens.core.runtime import claim_gpu_slot

count, lock_dir, hold = int(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
slot = claim_gpu_slot(count, lock_dir, poll_s=0.05)
start = time.time()
print("holding", flush=True)
time.sleep(hold)
print(slot, start, time.time(), flush=True)
"""


def start_job(count: int, lock_dir: Path, hold: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen([sys.executable, "-c", JOB, str(count), str(lock_dir), str(hold)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_holding(proc: subprocess.Popen) -> None:
    assert proc.stdout.readline().strip() == "holding", proc.stderr.read()


@pytest.fixture(autouse=True)
def no_claim_left():
    """Each test's claim (and the CUDA_VISIBLE_DEVICES it sets) ends with the test."""
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    yield
    runtime.release_gpu_slot()
    if before is None:
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = before


def test_never_more_jobs_than_gpus_and_each_its_own(tmp_path: Path) -> None:
    """Five jobs, two GPUs: at most two hold a slot at any time, never two the same one."""
    jobs = [start_job(2, tmp_path, 3.0) for _ in range(5)]
    spans, waited = [], 0
    for proc in jobs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        slot, start, end = out.splitlines()[-1].split()
        spans.append((int(slot), float(start), float(end)))
        waited += "waiting for a free GPU" in err
    assert {slot for slot, _, _ in spans} == {0, 1}
    most = 0
    for i, (slot, start, end) in enumerate(spans):
        others = [s for j, s in enumerate(spans) if j != i and s[1] < end and start < s[2]]
        assert all(other[0] != slot for other in others), spans  # no GPU shared
        assert len(others) <= 1, spans  # at most two at once
        most = max(most, len(others) + 1)
    assert most == 2 and waited >= 1  # both GPUs in use at once; the others waited


def test_a_waiting_job_takes_the_slot_when_it_frees(tmp_path: Path) -> None:
    holder = start_job(1, tmp_path, 600.0)
    wait_holding(holder)
    waiter = start_job(1, tmp_path, 0.0)
    assert "waiting for a free GPU: all 1 are held" in waiter.stderr.readline()
    assert waiter.poll() is None  # still waiting
    freed = time.time()
    holder.kill()
    holder.wait(timeout=30)
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    slot, start, _ = out.splitlines()[-1].split()
    assert slot == "0" and float(start) >= freed


def test_a_killed_job_frees_its_slot(tmp_path: Path) -> None:
    holder = start_job(1, tmp_path, 600.0)
    wait_holding(holder)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    tic = time.monotonic()
    assert runtime.claim_gpu_slot(1, tmp_path, poll_s=0.05) == 0
    assert time.monotonic() - tic < 1.0


def test_claim_sets_the_device_before_cuda_starts(tmp_path: Path, monkeypatch) -> None:
    """With two GPUs and one slot held elsewhere, a job is shown only the other GPU."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv(runtime.LOCK_DIR_ENV, str(tmp_path))
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    other = start_job(2, tmp_path, 600.0)
    try:
        wait_holding(other)
        runtime.claim_gpu()
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
        runtime.claim_gpu()  # a second call keeps the slot it holds
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    finally:
        other.kill()
        other.wait(timeout=30)


def test_a_device_given_by_the_scheduler_is_kept(tmp_path: Path, monkeypatch) -> None:
    """Slurm (--gres/--gpus) or the user chose: claim nothing, change nothing."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv(runtime.LOCK_DIR_ENV, str(tmp_path / "locks"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    runtime.claim_gpu()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert not (tmp_path / "locks").exists()


def test_no_gpu_no_claim(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setenv(runtime.LOCK_DIR_ENV, str(tmp_path / "locks"))
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    assert runtime.resolve_device("auto") == torch.device("cpu")
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not (tmp_path / "locks").exists()


def test_stages_that_choose_a_device_declare_a_gpu() -> None:
    """A stage whose outputs depend on params `device` runs on CUDA when there is one, so it
    must count against `--resources gpu=N` (and ask Slurm for a GPU); the others must not."""
    from robsens.pipeline.stages import STAGES

    assert {s.name: s.gpu for s in STAGES} == {s.name: int("device" in s.params) for s in STAGES}
