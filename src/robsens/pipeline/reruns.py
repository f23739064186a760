"""The rerun table: what one edit makes Snakemake and DVC rerun, against what it could change.

``python -m robsens pipeline reruns`` applies each edit of :data:`EDITS` in turn to the
project it runs in (a study run to completion, so that both tools have nothing to do),
asks ``snakemake -n`` which jobs it would run and ``dvc status`` which stages are out of
date, and puts everything back: the edited files, ``params.yaml`` and the fingerprints
(bytes and mtimes), so the project is left as it was. Each edit declares the stages (and,
for per-model stages, the methods of the models) whose outputs it can change: DVC must list
exactly those (it names the stages whose own inputs moved), Snakemake those and everything
downstream of them. tests/test_reruns.py asserts it on a small study; docs/reruns.md is
the table this command wrote on the default study.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from robsens.core.config import model_names
from robsens.core.host import machine
from robsens.core.io import save_text
from robsens.pipeline import paths
from robsens.pipeline.stages import BY_NAME, STAGES

Job = tuple[str, str, str]  # (stage, model, seed); "" where the stage has no such wildcard
ALL = None  # every job of a stage

DEMO_METHOD = '''"""A method no study uses (put here by `python -m robsens pipeline reruns`)."""

from robsens.methods import register
from robsens.methods.erm import ERM


@register("rerun_demo")
class RerunDemo(ERM):
    pass
'''
DEMO_FILE = "src/robsens/methods/rerun_demo.py"


@dataclass(frozen=True)
class Edit:
    """One edit and what it could change: stage -> the methods whose models' jobs (ALL:
    every job of the stage). ``files``: path -> (old text, new text), old "" appends and
    None creates the file; ``params``: dotted key -> new value."""

    name: str
    could_change: Mapping[str, frozenset[str] | None]
    files: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


def _methods(*names: str) -> frozenset[str]:
    return frozenset(names)


COMMENT = ("", "\n# an edit that changes nothing\n")
STATEMENT = ("", "\nRERUN_PROBE = 1\n")
EDITS: tuple[Edit, ...] = (
    Edit("a comment line added to src/robsens/cli.py", {},
         files={"src/robsens/cli.py": COMMENT}),
    Edit("a comment line added to src/robsens/pipeline/stages.py", {},
         files={"src/robsens/pipeline/stages.py": COMMENT}),
    Edit("the report stage's help text (src/robsens/pipeline/stages.py)", {},
         files={"src/robsens/pipeline/stages.py": (
             'help="write reports/results.md, summary.json and figures"',
             'help="write the report"')}),
    Edit("a docstring edited in src/robsens/training/loop.py", {},
         files={"src/robsens/training/loop.py": ('"""Train one model', '"""Train a model')}),
    Edit("a comment line added to src/robsens/robustness/corruptions/noise.py", {},
         files={"src/robsens/robustness/corruptions/noise.py": COMMENT}),
    Edit("a statement added to src/robsens/report/assemble.py", {"report": ALL},
         files={"src/robsens/report/assemble.py": STATEMENT}),
    Edit("a statement added to src/robsens/robustness/corruptions/noise.py",
         {"corrupt": ALL, "robustness": ALL, "spurious_evaluate": ALL, "spurious_contrast": ALL,
          "report": ALL},
         files={"src/robsens/robustness/corruptions/noise.py": STATEMENT}),
    Edit("a statement added to src/robsens/training/schedule.py",
         {"train": ALL, "spurious_train": ALL, "spurious_contrast": ALL},
         files={"src/robsens/training/schedule.py": STATEMENT}),
    Edit("a statement added to src/robsens/methods/fcl.py",
         {"train": _methods("fcl", "fcl_random", "fcl_oracle"),
          "spurious_train": _methods("fcl", "fcl_random", "fcl_oracle"),
          "spurious_contrast": _methods("fcl", "fcl_random", "fcl_oracle"), "report": ALL},
         files={"src/robsens/methods/fcl.py": STATEMENT}),
    Edit("a statement added to src/robsens/linear/solve.py", {"linear": ALL, "report": ALL},
         files={"src/robsens/linear/solve.py": STATEMENT}),
    Edit("a new method file that no model uses", {}, files={DEMO_FILE: (None, DEMO_METHOD)}),
    Edit("that method's model added to models and corner.models",
         {stage: _methods("rerun_demo") for stage in
          ("train", "evaluate", "robustness", "sensitivity")} | {"report": ALL},
         files={DEMO_FILE: (None, DEMO_METHOD)},
         params={"models.rerun_demo": {"method": "rerun_demo"},
                 "corner.models": lambda p: [*p["corner"]["models"], "rerun_demo"]}),
    Edit("sensitivity.strength 0.5 -> 0.4 (an evaluation setting)",
         {"sensitivity": ALL, "report": ALL}, params={"sensitivity.strength": 0.4}),
    Edit("sensitivity.chunk_size halved (batch shapes: float rounding)",
         {"sensitivity": ALL, "report": ALL},
         params={"sensitivity.chunk_size": lambda p: p["sensitivity"]["chunk_size"] // 2}),
    Edit("sensitivity.bench.n_images (read by `bench maps` only)", {},
         params={"sensitivity.bench.n_images": 7}),
    Edit("robustness.n_images - 50", {"corrupt": ALL, "robustness": ALL, "report": ALL},
         params={"robustness.n_images": lambda p: p["robustness"]["n_images"] - 50}),
    Edit("evaluate.batch_size halved",
         {"train": ALL, "spurious_train": ALL, "evaluate": ALL, "robustness": ALL,
          "spurious_evaluate": ALL, "spurious_contrast": ALL},
         params={"evaluate.batch_size": lambda p: p["evaluate"]["batch_size"] // 2}),
    Edit("train.lr x 2", {"train": ALL, "spurious_train": ALL, "spurious_contrast": ALL,
                          "report": ALL},
         params={"train.lr": lambda p: p["train"]["lr"] * 2}),
    Edit("models.fcl.lam x 2", {"train": _methods("fcl"), "spurious_train": _methods("fcl"),
                                "spurious_contrast": _methods("fcl"), "report": ALL},
         params={"models.fcl.lam": lambda p: p["models"]["fcl"]["lam"] * 2}),
    Edit("data.n_train + 100", {"synthesize": ALL, "report": ALL},
         params={"data.n_train": lambda p: p["data"]["n_train"] + 100}),
    Edit("spurious.data.contrast - 0.1", {"spurious_data": ALL, "report": ALL},
         params={"spurious.data.contrast": lambda p: round(p["spurious"]["data"]["contrast"]
                                                           - 0.1, 6)}),
    Edit("linear.model.rho - 0.1", {"linear": ALL},
         params={"linear.model.rho": lambda p: round(p["linear"]["model"]["rho"] - 0.1, 6)}),
    Edit("gates.accuracy_margin + 0.05", {"report": ALL},
         params={"gates.accuracy_margin": lambda p: p["gates"]["accuracy_margin"] + 0.05}),
    Edit("claims.level 0.95 -> 0.9", {"report": ALL}, params={"claims.level": 0.9}),
)


def edited_params(params: Mapping[str, Any], edit: Edit) -> dict[str, Any]:
    """``params`` with the edit's keys set (a callable value computes it from ``params``)."""
    new = yaml.safe_load(yaml.safe_dump(dict(params)))
    for key, value in edit.params.items():
        *parents, last = key.split(".")
        node = new
        for part in parents:
            node = node[part]
        node[last] = value(params) if callable(value) else value
    return new


def jobs_of(stage_name: str, params: Mapping[str, Any],
            methods: frozenset[str] | None = ALL) -> set[Job]:
    """The stage's jobs under ``params`` (of the models using ``methods``)."""
    stage = BY_NAME[stage_name]
    if not stage.wildcards:
        return {(stage_name, "", "")}
    models = [m for m in model_names(params, stage.model_set)
              if methods is ALL or params["models"][m]["method"] in methods]
    return {(stage_name, m, str(s)) for m in models for s in params["seeds"]}


def downstream(jobs: set[Job], params: Mapping[str, Any]) -> set[Job]:
    """``jobs`` and every job that reads, directly or not, what they write."""
    reads = {s.name: set(s.deps) | set(s.gather) for s in STAGES}
    outs = {s.name: {o.path for o in s.outs} for s in STAGES}
    found, todo = set(jobs), list(jobs)
    while todo:
        stage, model, seed = todo.pop()
        for reader in STAGES:
            if not reads[reader.name] & outs[stage]:
                continue
            if reader.wildcards and model:  # per-model to per-model: the same model and seed
                new = {j for j in jobs_of(reader.name, params) if j[1:] == (model, seed)}
            else:
                new = jobs_of(reader.name, params)
            todo += sorted(new - found)
            found |= new
    return found


def expected(edit: Edit, params: Mapping[str, Any]) -> tuple[set[Job], set[Job]]:
    """(DVC's out-of-date jobs, Snakemake's jobs) the edit should give."""
    direct = {job for stage, methods in edit.could_change.items()
              for job in jobs_of(stage, params, methods)}
    return direct, downstream(direct, params)


def snakemake_jobs(root: Path, env: Mapping[str, str] | None = None) -> set[Job]:
    """The jobs ``snakemake -n`` would run, with their wildcards."""
    out = subprocess.run(["snakemake", "-n", "--cores", "all"], cwd=root, env=env,
                         capture_output=True, text=True, check=True).stdout
    jobs, current = set(), None
    for line in out.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            if current:
                jobs.add(current)
            current = (m[1], "", "")
        elif (m := re.match(r"^\s+wildcards: (.*)$", line)) and current:
            wildcards = dict(kv.split("=", 1) for kv in m[1].split(", "))
            current = (current[0], wildcards.get("model", ""), wildcards.get("seed", ""))
    if current:
        jobs.add(current)
    return {job for job in jobs if job[0] != "all"}


def dvc_jobs(root: Path, env: Mapping[str, str] | None = None) -> set[Job]:
    """The stages ``dvc status`` lists, but ``fingerprints`` (which any edit of the code or
    params.yaml puts out of date: it rewrites the fingerprints in a second)."""
    out = subprocess.run(["dvc", "status"], cwd=root, env=env, capture_output=True,
                         text=True, check=True).stdout
    jobs = set()
    for m in re.finditer(r"^([\w-]+)(?:@([\w.]+)-(\d+))?:\s*$", out, re.M):
        if m[1] != "fingerprints":
            jobs.add((m[1], m[2] or "", m[3] or ""))
    return jobs


class _Saved:
    """Bytes and mtimes of files and folders, put back on exit (missing ones removed)."""

    def __init__(self, root: Path, rels: list[str]) -> None:
        self.root, self.rels = root, rels
        self.tmp = Path(tempfile.mkdtemp(prefix="robsens-reruns-"))

    def __enter__(self) -> _Saved:
        for rel in self.rels:
            src = self.root / rel
            if src.exists():
                (self.tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if src.is_dir() else shutil.copy2)(src, self.tmp / rel)
        return self

    def __exit__(self, *exc: object) -> None:
        for rel in self.rels:
            path, saved = self.root / rel, self.tmp / rel
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            if saved.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if saved.is_dir() else shutil.copy2)(saved, path)
        shutil.rmtree(self.tmp)


def apply(edit: Edit, root: Path, params: Mapping[str, Any]) -> None:
    """Make the edit's changes in ``root``."""
    for rel, (old, new) in edit.files.items():
        path = root / rel
        if old is None:
            save_text(path, new)
        elif old == "":
            save_text(path, path.read_text() + new)
        else:
            text = path.read_text()
            if old not in text:
                raise RuntimeError(f"{rel}: the edit's text {old!r} is not there any more; "
                                   "update robsens.pipeline.reruns.EDITS")
            save_text(path, text.replace(old, new, 1))
    if edit.params:
        save_text(root / "params.yaml", yaml.safe_dump(edited_params(params, edit),
                                                       sort_keys=False))


@dataclass
class Row:
    edit: Edit
    snakemake: set[Job]
    dvc: set[Job]
    expected_snakemake: set[Job]
    expected_dvc: set[Job]

    @property
    def exact(self) -> bool:
        return self.snakemake == self.expected_snakemake and self.dvc == self.expected_dvc


def measure(edit: Edit, root: Path, env: Mapping[str, str] | None = None) -> Row:
    """Apply one edit in ``root``, ask both tools, put everything back."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    touched = sorted({*edit.files, "params.yaml", paths.FINGERPRINTS_DIR.as_posix()})
    with _Saved(root, touched):
        apply(edit, root, params)
        snakemake = snakemake_jobs(root, env)  # reading the workflow writes the fingerprints
        dvc = dvc_jobs(root, env)
        want_dvc, want_snakemake = expected(edit, edited_params(params, edit))
    return Row(edit, snakemake, dvc, want_snakemake, want_dvc)


def summary(jobs: set[Job]) -> str:
    """``train 10, report 1`` in the stage table's order; ``nothing`` for none."""
    counts = {s.name: sum(1 for j in jobs if j[0] == s.name) for s in STAGES}
    return ", ".join(f"{name} {n}" for name, n in counts.items() if n) or "nothing"


def table(rows: list[Row]) -> str:
    lines = ["| edit | Snakemake reruns | DVC reruns | what could change | exact |",
             "|---|---|---|---|---|"]
    for row in rows:
        could = ", ".join(stage if methods is ALL else
                          f"{stage} (models of {', '.join(sorted(methods))})"
                          for stage, methods in row.edit.could_change.items()) or "nothing"
        lines.append(f"| {row.edit.name} | {summary(row.snakemake)} | {summary(row.dvc)} | "
                     f"{could} | {'yes' if row.exact else 'NO'} |")
    return "\n".join(lines)


def measure_all(params: Mapping[str, Any], out: Path | None) -> None:
    """Measure every edit in the current project and print (and write) the table."""
    root = Path()
    if snakemake_jobs(root) or dvc_jobs(root):
        raise SystemExit("error: reruns needs a finished study: `snakemake -n` or `dvc "
                         "status` has work to do here; run the study (and `dvc commit`) first")
    print(f"edits {len(EDITS)} times src/ or params.yaml in {Path.cwd()}, putting each back "
          "(bytes and mtimes)", flush=True)
    rows = []
    for edit in EDITS:
        rows.append(measure(edit, root))
        print(f"{edit.name}: Snakemake {summary(rows[-1].snakemake)}; DVC "
              f"{summary(rows[-1].dvc)}; {'exact' if rows[-1].exact else 'NOT exact'}",
              flush=True)
    text = table(rows)
    print(text)
    if out:
        save_text(out, "# What one edit reruns\n\nGenerated by `python -m robsens pipeline "
                  f"reruns --out {out}` on the default study ({len(params['seeds'])} "
                  f"seeds), {datetime.now(UTC):%Y-%m-%d}, {machine()}; tests/test_reruns.py "
                  "asserts "
                  "the same on a small study. Snakemake's column counts the jobs "
                  "`snakemake -n` runs (the edited stages and what reads their outputs); "
                  "DVC's counts the stages `dvc status` lists, besides `fingerprints`, "
                  "which any edit to src/ or params.yaml puts out of date (it rewrites only "
                  "the fingerprints whose content changed).\n\n" + text + "\n")
    if not all(row.exact for row in rows):
        raise SystemExit("error: some edits rerun more or less than they could change (NO)")
