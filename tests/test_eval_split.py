"""`evaluate.split: val`: every evaluation reads the validation side, nothing test-side,
through the real Snakemake (the DAG's declared inputs, and a tiny run whose test-side split
files are unreadable)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from robsens.pipeline import paths

from .conftest import make_project, overlay, run, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

TEST_SIDE = {str(paths.split_path("test")), str(paths.split_path("probe"))}
VAL_SIDE = {str(paths.split_path("val")), str(paths.split_path("val_probe"))}


@pytest.fixture
def val_project(tmp_path: Path) -> Path:
    """The smoke study with two models (baseline and FCL), scored on validation; without the
    spurious-background study, which has no evaluation-split switch (its own splits)."""
    params = overlay(tiny_params(), {"evaluate": {"split": "val"}, "models": {
        "noise_0p6": None, "adv_linf": None, "fcl_random": None, "fcl_oracle": None},
        "spurious": {"models": []}})
    return make_project(tmp_path / "project", params)


def declared_inputs(project: Path) -> dict[str, set[str]]:
    """Each rule's input files in a dry run of the whole DAG (Snakemake prints every job)."""
    out = run(["snakemake", "-n", "--cores", "2", "--forceall"], project).stdout
    inputs: dict[str, set[str]] = {}
    rule = None
    for line in out.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("input:") and rule:
            files = line.split(":", 1)[1].split(",")
            inputs.setdefault(rule, set()).update(f.strip() for f in files)
    return inputs


def test_the_val_dag_declares_no_test_side_input(val_project: Path) -> None:
    inputs = declared_inputs(val_project)
    assert {"evaluate", "corrupt", "robustness", "sensitivity", "report"} <= set(inputs)
    for rule, files in inputs.items():
        assert not files & TEST_SIDE, f"{rule} declares {files & TEST_SIDE}"
    assert inputs["evaluate"] >= VAL_SIDE and inputs["sensitivity"] >= VAL_SIDE
    assert str(paths.split_path("val")) in inputs["corrupt"]


def test_the_default_dag_reads_the_test_side(tiny_project: Path) -> None:
    inputs = declared_inputs(tiny_project)
    assert inputs["evaluate"] >= TEST_SIDE and not VAL_SIDE & inputs["sensitivity"]


def test_a_val_run_never_reads_the_test_side(val_project: Path) -> None:
    """Synthesize, then make the test-side files unreadable (same mtime, so Snakemake keeps
    them): the whole study still runs, and its report says it is scored on validation."""
    run(["snakemake", "--cores", "2", str(paths.DATA_MANIFEST)], val_project)
    for name in TEST_SIDE:
        path = val_project / name
        stat = path.stat()
        path.write_bytes(b"not the test split")
        os.utime(path, (stat.st_atime, stat.st_mtime))
    run(["snakemake", "--cores", "2"], val_project)
    report = (val_project / paths.REPORT_MD).read_text()
    assert "Scored on the validation split" in report
    assert (val_project / paths.split_path("test")).read_bytes() == b"not the test split"
