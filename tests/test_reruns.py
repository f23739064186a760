"""What an edit reruns, through the real tools, and switching between them.

One small study is built by Snakemake (which records it in dvc.lock on success). Then:
- every stage imported, at run time, only its computed code and the machinery around it;
- each edit of the rerun table (robsens.pipeline.reruns.EDITS: comments, docstrings, help
  texts, statements, a new method file, a new model, one key per params section, the
  result-neutral keys) makes ``dvc status`` list exactly the stages it could change and
  ``snakemake -n`` run exactly those and what reads their outputs; a statement edit's
  declared stages are those whose import trace loaded the module;
- after Snakemake, ``dvc repro`` has nothing to do; after ``dvc repro`` of a change,
  ``snakemake -n`` has nothing to do, and after ``snakemake``, ``dvc status`` is clean;
  after ``dvc checkout``, Snakemake has nothing to do.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from robsens.core.config import model_names
from robsens.pipeline import deps
from robsens.pipeline.reruns import (
    EDITS,
    STATEMENT,
    dvc_jobs,
    jobs_of,
    measure,
    snakemake_jobs,
)
from robsens.pipeline.stages import STAGES

from .conftest import project_env, run

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses


@pytest.fixture(scope="module")
def built(small_study: Path) -> tuple[Path, dict[str, str]]:
    return small_study, project_env(small_study)


def traced_imports(project: Path, stage: str) -> set[str]:
    """The package modules the stage's jobs imported (PYTHONPROFILEIMPORTTIME in the logs)."""
    logs = list((project / "logs").glob(f"{stage}/**/*.log")) or [
        project / "logs" / f"{stage}.log"]
    return {m for log in logs for m in
            re.findall(r"\|\s+(robsens(?:\.\w+)*)\s*$", log.read_text(), re.M)}


def test_stages_import_only_their_code_and_machinery(built) -> None:
    project, _ = built
    params = yaml.safe_load((project / "params.yaml").read_text())
    methods = [params["models"][m]["method"] for m in params["models"]]
    for stage in STAGES:
        imported = traced_imports(project, stage.name)
        assert imported, f"no import trace in the {stage.name} logs"
        code = set(deps.code_modules(stage.entry, methods))
        other = {m for m in imported - code
                 if not (deps.is_machinery(m) or m in deps.closure(*deps.MACHINERY,
                                                                   discover=True))}
        assert not other, (stage.name, other)


def method_loaders(module: str, params: dict) -> set[str]:
    """The stages that run a model whose method class (or a base of it) ``module`` defines:
    the training stages of such models, and the report, which reads every model's role."""
    from robsens.methods import METHODS

    def made_of(model: str) -> bool:
        cls = METHODS[params["models"][model]["method"]]
        return any(base.__module__ == module for base in cls.__mro__)

    stages = {s.name for s in STAGES if s.per_model
              and any(made_of(m) for m in model_names(params, s.model_set))}
    return stages | ({"report"} if stages else set())


@pytest.mark.parametrize("edit", [e for e in EDITS if STATEMENT in e.files.values()],
                         ids=lambda e: e.name)
def test_a_statement_edit_declares_the_stages_that_load_the_module(built, edit) -> None:
    """The declared stages, where the small study runs a job they name, are those whose
    jobs loaded the edited module: the import trace is the oracle, not the import graph."""
    project, _ = built
    params = yaml.safe_load((project / "params.yaml").read_text())
    (path,) = edit.files
    module = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
    if module.startswith("robsens.methods."):
        # the registry imports its files with importlib, which the import trace does not
        # show: the oracle is the registry itself, the classes each model's method is made of
        loaders = method_loaders(module, params)
    else:
        loaders = {s.name for s in STAGES if module in traced_imports(project, s.name)}
    declared_here = {s for s, methods in edit.could_change.items()
                     if jobs_of(s, params, methods)}
    assert loaders == declared_here, module


@pytest.mark.parametrize("edit", EDITS, ids=lambda e: e.name)
def test_an_edit_reruns_exactly_what_it_could_change(built, edit) -> None:
    project, env = built
    row = measure(edit, project, env)
    assert row.dvc == row.expected_dvc, edit.name
    assert row.snakemake == row.expected_snakemake, edit.name
    assert not snakemake_jobs(project, env) and not dvc_jobs(project, env), "not put back"


def test_dvc_has_nothing_to_do_after_snakemake(built) -> None:
    project, env = built
    assert "up to date" in run(["dvc", "status"], project, env).stdout
    out = run(["dvc", "repro"], project, env).stdout
    assert "Running stage" not in out, out


def test_switching_tools_costs_nothing_both_ways(built) -> None:
    """A report-only change made by DVC leaves Snakemake nothing to do; undone, Snakemake
    remakes the report DVC made (its old records must not vouch for it), and then DVC has
    nothing to do."""
    project, env = built
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["gates"]["accuracy_margin"] += 0.05
    try:
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        out = run(["dvc", "repro"], project, env).stdout
        assert "Running stage 'report'" in out, out
        assert not snakemake_jobs(project, env)
    finally:
        params_file.write_text(original)
    assert snakemake_jobs(project, env) == {("report", "", "")}
    run(["snakemake", "--cores", "2"], project, env)
    assert "up to date" in run(["dvc", "status"], project, env).stdout
    assert not snakemake_jobs(project, env)


def test_snakemake_has_nothing_to_do_after_dvc_checkout(built) -> None:
    project, env = built
    for rel in ("data/corner/train.npz", "results/models/erm/seed0/model.pt",
                "results/metrics/fcl/seed0/clean.json"):
        (project / rel).unlink()
    run(["dvc", "checkout"], project, env)
    assert (project / "data/corner/train.npz").is_file()
    out = run(["snakemake", "-n", "--cores", "2"], project, env)
    assert "Nothing to be done" in out.stdout + out.stderr, out.stdout


def test_fingerprints_are_committed_with_the_study(built) -> None:
    """The fingerprint files are DVC outputs kept out of its cache (persisted: DVC never
    deletes them, so an unchanged one keeps its mtime for Snakemake)."""
    project, _ = built
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert lock["stages"]["fingerprints"]["outs"][0]["path"] == "fingerprints"
    assert (project / "fingerprints/train/fcl.json").is_file()
