"""The params schema ships with the package: a plain (non-editable) install finds it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, robsens
from robsens.core.config import SCHEMA_PATH, _schema

print(json.dumps({"package": robsens.__file__, "schema": str(SCHEMA_PATH),
                  "keys": sorted(_schema()["properties"])}))
"""


def test_a_non_editable_install_finds_the_schema(tmp_path):
    # Build from a copy of what a wheel is made of, so the build leaves nothing in the tree.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "src" / "robsens", project / "src" / "robsens",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(project)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert build.returncode == 0, build.stderr

    probe = subprocess.run([sys.executable, "-c", PROBE], cwd=elsewhere, capture_output=True,
                           text=True, env={**env, "PYTHONPATH": str(target)}, timeout=120)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    installed = target / "robsens"
    assert Path(found["package"]).parent == installed  # not the editable checkout
    assert Path(found["schema"]) == installed / "core" / "params.schema.yaml"
    assert {"data", "models", "robustness"} <= set(found["keys"])
