"""DVC's bookkeeping after a run, timed in the current project beside the size of dvc.lock:
``python -m robsens pipeline commit`` (what Snakemake's onsuccess runs: drop the records of
stages dvc.yaml no longer defines, then commit without relinking), the plain
``dvc commit --force --no-relink`` inside it, and ``dvc status``. Target: the commit at most
5 s on 2 cores. Each job's code and params reach DVC as one small fingerprint file
(robsens.pipeline.fingerprints), so dvc.lock lists a few entries per stage, not the 27-39
source files each stage once had. Run it in a finished study (the default study's root)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from robsens.core.host import machine

TARGET_S = 5.0
REPEATS = 3


def timed(cmd: list[str], check: bool = True) -> float:
    """Wall seconds of the fastest of :data:`REPEATS` runs of ``cmd``."""
    best = float("inf")
    for _ in range(REPEATS):
        tic = time.perf_counter()
        subprocess.run(cmd, check=check, capture_output=True)
        best = min(best, time.perf_counter() - tic)
    return best


def verdict(seconds: float) -> str:
    return f"{seconds:.1f} s (target {TARGET_S:g} s: {'met' if seconds <= TARGET_S else 'NOT met'})"


def run(params: dict) -> None:
    lock = Path("dvc.lock")
    if not lock.is_file():
        raise SystemExit("error: no dvc.lock here: run a study first (snakemake --cores all)")
    print(f"machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    pipeline = timed([sys.executable, "-m", "robsens", "pipeline", "commit"])
    lines = len(lock.read_text().splitlines())  # after the first commit dropped stale records
    commit = timed(["dvc", "commit", "--force", "--no-relink", "--quiet"])
    status = timed(["dvc", "status", "--quiet"], check=False)  # exit 1: something changed
    print(f"dvc.lock: {lines} lines; python -m robsens pipeline commit: {verdict(pipeline)}; "
          f"dvc commit --force --no-relink: {verdict(commit)}; dvc status: {status:.1f} s "
          f"(fastest of {REPEATS})")
