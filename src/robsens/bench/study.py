"""Wall time of whole studies from an empty workspace: the smoke overlay, then the default.

Each runs as a named run (``runs/bench_<name>/``, deleted first, so nothing is reused: not
the data, not a checkpoint, not a warm result) through the users' command, ``snakemake
--cores all``, and is timed from the command's start to its end. The per-rule summed job
times come from the run's Snakemake ``benchmark:`` files. Printed beside the targets: the
smoke overlay at most 90 s, the default study (both image studies, every seed) at most
15 minutes (20 the hard ceiling). The machine, its load and the date are printed with them.
This is the study's cost on this machine, so run nothing else beside it.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from robsens.core.host import machine

# name -> (snakemake arguments after --cores all, target seconds, hard ceiling or None)
STUDIES = {
    "smoke": (["--configfile", "configs/smoke.yaml"], 90, None),
    "default": ([], 15 * 60, 20 * 60),
}


def rule_seconds(run_dir: Path) -> dict[str, float]:
    """Summed job wall time per rule, from the run's ``benchmarks/<rule>/...tsv`` files."""
    totals: dict[str, float] = {}
    for tsv in sorted((run_dir / "benchmarks").rglob("*.tsv")):
        rule = tsv.relative_to(run_dir / "benchmarks").parts[0].removesuffix(".tsv")
        with tsv.open() as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                totals[rule] = totals.get(rule, 0.0) + float(row["s"])
    return totals


def time_study(name: str, extra: list[str]) -> tuple[float, dict[str, float]]:
    """Run one study from an empty run folder; its wall seconds and per-rule job seconds."""
    run_name = f"bench_{name}"
    run_dir = Path("runs") / run_name
    shutil.rmtree(run_dir, ignore_errors=True)
    cmd = ["snakemake", "--cores", "all", "--quiet", *extra, "--config", f"run_name={run_name}"]
    print(f"$ {' '.join(cmd)}", flush=True)
    tic = time.perf_counter()
    done = subprocess.run(cmd, check=False)
    wall = time.perf_counter() - tic
    if done.returncode != 0:
        sys.exit(f"error: the {name} study failed (exit {done.returncode}); see {run_dir}/logs")
    return wall, rule_seconds(run_dir)


def run(params: dict) -> None:
    print(f"machine: {machine()}; started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    for name, (extra, target, ceiling) in STUDIES.items():
        wall, rules = time_study(name, extra)
        limit = f"target {target / 60:g} min" + (f", ceiling {ceiling / 60:g}" if ceiling else "")
        verdict = "met" if wall <= target else (
            "NOT met, within the ceiling" if ceiling and wall <= ceiling else "NOT met")
        print(f"{name}: {wall:.0f} s wall ({wall / 60:.1f} min; {limit}: {verdict}); summed "
              f"job time {sum(rules.values()):.0f} s: " + ", ".join(
                  f"{rule} {seconds:.0f} s" for rule, seconds in
                  sorted(rules.items(), key=lambda kv: -kv[1])))
    print(f"machine after: {machine()}")
