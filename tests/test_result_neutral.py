"""What earns a params key its ``x-result-neutral`` declaration in the schema: flipped, every
stage that reads it writes the same bytes. (No fingerprint holds such a key, so changing it
reruns nothing: tests/test_reruns.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from robsens.core.config import model_names, result_neutral_keys
from robsens.pipeline import paths
from robsens.pipeline.stages import STAGES

from .conftest import project_env, run

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


def flipped(value: Any) -> Any:
    """Another valid value: an integer becomes 7 (or 8), a section has each of its own."""
    if isinstance(value, dict):
        return {k: flipped(v) for k, v in value.items()}
    assert isinstance(value, int), f"no flip for {value!r}: extend flipped()"
    return 7 if value != 7 else 8


def readers(key: str) -> list:
    """The stages whose params include ``key`` (or a section holding it)."""
    return [s for s in STAGES
            if any(key == p or key.startswith(p + ".") for p in s.params)]


def test_the_schema_declares_result_neutral_keys() -> None:
    # sensitivity.chunk_size is not one: it moves the maps' float rounding (this test, run on
    # it, failed at the 7th digit of the sensitivity metrics)
    assert "sensitivity.bench" in result_neutral_keys()


@pytest.mark.parametrize("key", sorted(result_neutral_keys()))
def test_a_result_neutral_key_changes_no_output(small_study: Path, key: str,
                                                tmp_path: Path) -> None:
    """On a copy of the small study (its jobs run by hand here would leave the shared study's
    Snakemake records behind: robsens.pipeline.handoff), each stage that reads the key runs
    one job with the key flipped and writes its outputs' bytes again."""
    project = tmp_path / "study"
    shutil.copytree(small_study, project, symlinks=True,
                    ignore=shutil.ignore_patterns("cache", "__pycache__"))
    env = project_env(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    *parents, last = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[last] = flipped(node[last])
    stages = readers(key)
    assert stages, f"{key}: no stage reads it; declare it for a reason that is tested"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in stages:
        wildcards = ({"model": model_names(params, stage.model_set)[-1], "seed": 0}
                     if stage.wildcards else {})
        outs = [project / paths.fill(o.path, **wildcards) for o in stage.outs]
        before = {f: f.read_bytes() for out in outs
                  for f in (sorted(out.rglob("*")) if out.is_dir() else [out]) if f.is_file()}
        run(stage.command.format(**wildcards).split(), project, env)
        for file, content in before.items():
            assert file.read_bytes() == content, (key, file.relative_to(project))
