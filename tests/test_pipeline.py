"""The one pipeline declaration: dvc.yaml is derived from it, code deps are computed."""

from __future__ import annotations

from pathlib import Path

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


def test_source_digest_covers_the_imported_code() -> None:
    loop = deps.source_digest("robsens.training.loop")
    assert loop == deps.source_digest("robsens.training.loop")
    # the loop imports the method registry, so the digest is the one of that closure
    assert loop == deps.source_digest("robsens.training.loop", "robsens.methods.fcl")
    assert loop != deps.source_digest("robsens.training.loop", "robsens.report.assemble")
