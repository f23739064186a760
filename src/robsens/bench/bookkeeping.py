"""DVC's bookkeeping after a run: ``dvc commit --force`` (what Snakemake's onsuccess runs) and
``dvc status``, timed in the current project, beside the size of dvc.lock. Target: the commit
at most 5 s on 2 cores. Each job's code and params reach DVC as one small fingerprint file
(robsens.pipeline.fingerprints), so dvc.lock lists a few entries per stage, not the 27-39
source files each stage once had. Run it in a finished study (the default study's root)."""

from __future__ import annotations

import subprocess
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


def run(params: dict) -> None:
    lock = Path("dvc.lock")
    if not lock.is_file():
        raise SystemExit("error: no dvc.lock here: run a study first (snakemake --cores all)")
    print(f"machine: {machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    lines = len(lock.read_text().splitlines())
    commit = timed(["dvc", "commit", "--force", "--quiet"])
    status = timed(["dvc", "status", "--quiet"], check=False)  # exit 1: something changed
    verdict = "met" if commit <= TARGET_S else "NOT met"
    print(f"dvc.lock: {lines} lines; dvc commit --force: {commit:.1f} s (target "
          f"{TARGET_S:g} s: {verdict}); dvc status: {status:.1f} s (fastest of {REPEATS})")
