"""The one pipeline declaration: dvc.yaml is derived from it, code deps are computed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robsens.pipeline import deps
from robsens.pipeline.dvc import render
from robsens.pipeline.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]


def test_committed_dvc_yaml_is_generated_from_the_stage_table() -> None:
    assert (ROOT / "dvc.yaml").read_text() == render(), (
        "dvc.yaml is stale: run `python -m robsens pipeline dvc` and commit it")


def test_code_deps_follow_the_imports() -> None:
    train = deps.stage_modules("train")
    # the method registry discovers its modules: every method is a train dependency
    assert {"robsens.methods.fcl", "robsens.methods.erm", "robsens.blocks.attacks"} <= set(train)
    # lazy (function-level) imports count
    assert "robsens.training.tracking" in train
    # validation's import of the registry is marked as no dependency
    assert not any(m.startswith("robsens.methods") for m in deps.stage_modules("synthesize"))
    assert "robsens.report.assemble" in deps.stage_modules("report")
    assert "robsens.report.assemble" not in train


def test_every_stage_entry_is_a_module_with_run() -> None:
    import importlib

    for stage in STAGES:
        assert callable(importlib.import_module(stage.entry).run), stage.name
        assert deps.module_file(stage.entry) is not None


def runtime_imports(module: str) -> set[str]:
    """The package modules a fresh interpreter has loaded after importing ``module``: a trace
    of the real imports, independent of the static analysis in ``deps``."""
    code = (f"import sys, {module}; print(*sorted(m for m in sys.modules "
            "if m == 'robsens' or m.startswith('robsens.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return set(out.split())


@pytest.mark.e2e  # a subprocess traces the imports
def test_source_digest_covers_the_imported_code(tmp_path: Path, monkeypatch) -> None:
    traced = runtime_imports("robsens.training.loop")
    assert "robsens.methods.fcl" in traced and "robsens.report.assemble" not in traced
    assert traced <= set(deps.closure("robsens.training.loop"))
    # on a copy of the package: an edit to any traced module moves the digest, an edit to a
    # module the training never loads does not
    copy = tmp_path / "robsens"
    shutil.copytree(deps.package_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(deps, "package_dir", lambda: copy)
    before = deps.source_digest("robsens.training.loop")
    for module in [*sorted(traced), "robsens.report.assemble"]:
        path = deps.module_file(module)
        original = path.read_bytes()
        path.write_bytes(original + b"\nEDITED = 1\n")
        moved = deps.source_digest("robsens.training.loop") != before
        path.write_bytes(original)
        assert moved == (module in traced), module
    assert deps.source_digest("robsens.training.loop") == before
