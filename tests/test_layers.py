"""The package's layering contract (pyproject.toml, [tool.importlinter]) holds: no module
imports from a layer above its own, so there is no import circle between layers."""

from __future__ import annotations

import os

from importlinter.cli import lint_imports

from .conftest import ROOT


def test_the_layering_contract_holds() -> None:
    cwd = os.getcwd()
    os.chdir(ROOT)  # import-linter reads pyproject.toml from the working directory
    try:
        assert lint_imports(no_cache=True) == 0, "run `lint-imports` to see what breaks it"
    finally:
        os.chdir(cwd)
