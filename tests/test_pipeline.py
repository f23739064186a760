"""The one pipeline declaration: dvc.yaml is derived from it, code deps are computed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from robsens.core.config import model_names
from robsens.pipeline import deps, paths
from robsens.pipeline.dvc import gathered_dir, render
from robsens.pipeline.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]


def test_committed_dvc_yaml_is_generated_from_the_stage_table() -> None:
    assert (ROOT / "dvc.yaml").read_text() == render(), (
        "dvc.yaml is stale: run `python -m robsens pipeline dvc` and commit it")


def test_code_deps_follow_the_imports() -> None:
    train = deps.code_modules("robsens.training.stage", ["fcl_oracle"])
    # the model's method and what it imports (the oracle is FCL's subclass), not the others
    assert {"robsens.methods.fcl_oracle", "robsens.methods.fcl", "robsens.training.loop",
            "robsens.core.reproducibility"} <= set(train)
    assert "robsens.methods.erm" not in train
    # machinery is not followed: MLflow logging, the pipeline declaration, the CLI
    assert not {"robsens.training.tracking", "robsens.pipeline.stages", "robsens.cli"} & set(train)
    # validation's import of the registry is marked as no dependency
    assert not any(m.startswith("robsens.methods")
                   for m in deps.code_modules("robsens.data.stage", ["erm"]))
    assert "robsens.report.assemble" in deps.code_modules("robsens.report.stage", ["erm"])
    assert "robsens.report.assemble" not in train


def test_every_machinery_entry_exists() -> None:
    for module in deps.MACHINERY:
        assert deps.module_file(module) is not None, module


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
def test_code_digest_moves_with_the_code_and_only_with_it(tmp_path: Path, monkeypatch) -> None:
    """On a copy of the package: a statement added to any module the training loads (the
    runtime trace, not the import graph) moves the training's code digest (every method's
    models), unless it is machinery; a comment or a docstring edit does not; a statement in
    the report does not."""
    from robsens.methods import METHODS

    traced = runtime_imports("robsens.training.stage")
    copy = tmp_path / "robsens"
    shutil.copytree(deps.package_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(deps, "package_dir", lambda: copy)

    def digest() -> str:
        deps.normalized_source.cache_clear()
        deps.direct_imports.cache_clear()
        deps.closure.cache_clear()
        return deps.code_digest(deps.code_modules("robsens.training.stage", METHODS))

    before = digest()
    for module in [*sorted(traced), "robsens.report.assemble"]:
        path = deps.module_file(module)
        original = path.read_text()
        moved = {}
        for kind, text in (("statement", original + "\nEDITED = 1\n"),
                           ("comment", original + "\n# edited\n"),
                           ("docstring", original.replace('"""', '"""Edited. ', 1))):
            path.write_text(text)
            moved[kind] = digest() != before
        path.write_text(original)
        loads_it = module in traced and not deps.is_machinery(module)
        assert moved == {"statement": loads_it, "comment": False, "docstring": False}, module
    assert digest() == before


def test_every_gathered_folder_exists_in_the_default_study() -> None:
    """DVC refuses a stage whose dependency does not exist, and dvc.yaml does not change with
    params.yaml: each folder a stage gathers from must be written by jobs the default study
    runs (a contrast sweep's metrics once had their own folder, absent without a sweep, and
    the default study's `dvc commit` failed on it)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    written = {str(paths.fill(out.path, model=m, seed=s))
               for stage in STAGES for out in stage.outs
               for m in (model_names(params, stage.model_set) if stage.wildcards else [""])
               for s in params["seeds"]}
    for stage in STAGES:
        for folder in {gathered_dir(t) for t in stage.gather}:
            assert any(w.startswith(folder + "/") for w in written), (stage.name, folder)
