"""Computed code dependencies, through the real tools, and switching between them.

One tiny study is built by Snakemake (which records it in dvc.lock on success). Then:
- every stage imported, at run time, only modules of its computed code dependencies;
- editing a module makes exactly the stages that import it out of date in DVC (``status``
  lists the stages whose own dependencies changed) and makes Snakemake (``-n``) rerun
  exactly those stages and what depends on them. CI edits one module per distinct set of
  importing stages; ``pytest -m slow`` edits every module of the package;
- after Snakemake, ``dvc repro`` has nothing to do; after ``dvc checkout``, neither has
  Snakemake.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import pytest

from robsens.pipeline import deps
from robsens.pipeline.stages import STAGES

from .conftest import project_env, run

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

ALL_MODULES = sorted({m for stage in STAGES for m in deps.stage_modules(stage.name)})


def importers(module: str) -> frozenset[str]:
    """The stages whose command imports ``module``."""
    return frozenset(s.name for s in STAGES if module in deps.stage_modules(s.name))


def representatives() -> list[str]:
    """One module (the first by name) per distinct set of importing stages."""
    groups: dict[frozenset[str], list[str]] = defaultdict(list)
    for module in ALL_MODULES:
        groups[importers(module)].append(module)
    return sorted(members[0] for members in groups.values())


def unfollowed_modules(stage: str) -> tuple[str, ...]:
    """Modules the stage may import through marked imports only (params validation)."""
    marked = {m for module in deps.stage_modules(stage)
              for m in deps.direct_imports(module, marked=True)}
    return tuple(sorted(set(deps.closure(*sorted(marked))) - set(deps.stage_modules(stage))))


@pytest.fixture(scope="module")
def built(small_study: Path) -> tuple[Path, dict[str, str]]:
    return small_study, project_env(small_study)


def test_stages_import_only_their_computed_dependencies(built) -> None:
    project, _ = built
    for stage in STAGES:
        logs = list((project / "logs").glob(f"{stage.name}/**/*.log")) or [
            project / "logs" / f"{stage.name}.log"]
        imported = {m for log in logs for m in
                    re.findall(r"\|\s+(robsens(?:\.\w+)*)\s*$", log.read_text(), re.M)}
        assert imported, f"no import trace in the {stage.name} logs"
        allowed = set(deps.stage_modules(stage.name)) | set(unfollowed_modules(stage.name))
        assert imported <= allowed, (stage.name, imported - allowed)


def downstream(stages: set[str]) -> set[str]:
    """``stages`` and every stage that reads, directly or not, what they write."""
    outs = {s.name: {o.path for o in s.outs} for s in STAGES}
    found, grew = set(stages), True
    while grew:
        grew = False
        for stage in STAGES:
            reads = set(stage.deps) | set(stage.gather)
            if stage.name not in found and any(reads & outs[f] for f in found):
                found.add(stage.name)
                grew = True
    return found


def _snakemake_jobs(project: Path, env: dict[str, str]) -> set[str]:
    """The rules ``snakemake -n`` would run (Snakemake reports only one reason per job, so
    the direct causes are not visible: its jobs are the importers and what follows them)."""
    out = run(["snakemake", "-n", "--cores", "2"], project, env).stdout
    if "Job stats:" not in out:
        return set()
    table = out.split("Job stats:")[1].split("total")[0]
    return set(re.findall(r"^(\w+)\s+\d+$", table, re.M)) - {"all"}


def _dvc_changed(project: Path, env: dict[str, str]) -> set[str]:
    out = run(["dvc", "status"], project, env).stdout
    return {m[1] for m in re.finditer(r"^([\w-]+)(?:@[\w-]+)?:\s*$", out, re.M)}


def check_edit(project: Path, env: dict[str, str], module: str) -> None:
    path = project / deps.source_path(module)
    before, stat = path.read_bytes(), path.stat()
    try:
        path.write_bytes(before + b"\n# an edit\n")
        expected = set(importers(module))
        assert _dvc_changed(project, env) == expected, module
        assert _snakemake_jobs(project, env) == downstream(expected), module
    finally:
        path.write_bytes(before)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("module", representatives())
def test_an_edit_makes_exactly_the_importing_stages_out_of_date(built, module: str) -> None:
    check_edit(*built, module)


@pytest.mark.slow
@pytest.mark.parametrize("module", ALL_MODULES)
def test_every_module_edit(built, module: str) -> None:
    check_edit(*built, module)


def test_dvc_has_nothing_to_do_after_snakemake(built) -> None:
    project, env = built
    assert "up to date" in run(["dvc", "status"], project, env).stdout
    out = run(["dvc", "repro"], project, env).stdout
    assert "Running stage" not in out, out


def test_snakemake_has_nothing_to_do_after_dvc_checkout(built) -> None:
    project, env = built
    for rel in ("data/corner/train.npz", "results/models/erm/seed0/model.pt",
                "results/metrics/fcl/seed0/clean.json"):
        (project / rel).unlink()
    run(["dvc", "checkout"], project, env)
    assert (project / "data/corner/train.npz").is_file()
    out = run(["snakemake", "-n", "--cores", "2"], project, env)
    assert "Nothing to be done" in out.stdout + out.stderr, out.stdout
