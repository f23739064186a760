"""``python -m robsens <command>``: dispatch only.

Stage commands come from the stage table (:mod:`robsens.pipeline.stages`), the tools from
:data:`TOOLS`; each command's module is imported only when that command runs. Dispatch only: no
output depends on this module (robsens.pipeline.deps.MACHINERY). Every command validates the params
first. Expected failures (:class:`~robsens.core.errors.UserError`) print one line naming the
cause and the fix, ``error: ...``, to stderr and exit 2; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
from pathlib import Path
from typing import NoReturn

from robsens.core.errors import InputError, UserError
from robsens.pipeline.handoff import after_job
from robsens.pipeline.params import load_params
from robsens.pipeline.runs import check_run_root
from robsens.pipeline.stages import BY_NAME as BY_STAGE
from robsens.pipeline.stages import STAGES, producer

# name -> (module with run(params, args) and optional add_arguments(parser), help)
TOOLS: dict[str, tuple[str, str]] = {
    "validate": ("robsens.pipeline.params", "validate the params file against the schema"),
    "mlflow": ("robsens.report.tracking", "init: create the MLflow experiment; sync: log "
               "results on disk that MLflow misses"),
    "bench": ("robsens.bench", "speed benchmarks (print timings and ratios)"),
    "compare": ("robsens.report.compare", "the default study's claims beside another run's "
                "(e.g. runs/long): same verdicts, estimates within their intervals?"),
    "sweep": ("robsens.report.sweep", "score a validation sweep's variants by a claim's "
              "endpoint (e.g. runs/fcl_sweep): which one the defaults should follow"),
    "section": ("robsens.report.section", "one section of a run's report as a document, with "
                "its figures (e.g. the contrast sweep of runs/contrast, for the docs)"),
    "pipeline": ("robsens.pipeline.commands", "files generated from the stage table: dvc.yaml, "
                 "docs/parameters.md, the DAG picture; a stage's computed code dependencies"),
}
# Tools that work on the project as a whole, from its root, whatever run the params name.
PROJECT_TOOLS = ("validate", "bench", "compare", "sweep", "section", "pipeline")
COMMANDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{s.name: (s.entry, s.help, s.wildcards) for s in STAGES},
    **{name: (module, help_text, ()) for name, (module, help_text) in TOOLS.items()},
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (for its extra arguments)."""
    parser = argparse.ArgumentParser(prog="python -m robsens", description=__doc__)
    parser.add_argument("--params", default="params.yaml", type=Path,
                        help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text, wildcards) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if "model" in wildcards:
            p.add_argument("--model", required=True, help="a key of 'models' in params.yaml")
        if "seed" in wildcards:
            p.add_argument("--seed", required=True, type=int)
        if name == command:
            add_arguments = getattr(importlib.import_module(module), "add_arguments", None)
            if add_arguments is not None:
                add_arguments(p)
    return parser


def explain(exc: UserError) -> str:
    """The one line for an expected failure; an input file also gets the stage that makes it
    and how to remake it (a corrupt file must go first: Snakemake sees it as up to date)."""
    if not isinstance(exc, InputError):
        return str(exc)
    stage = producer(exc.path)
    maker = f"stage '{stage.name}' makes it; " if stage else ""
    missing = exc.problem == "is missing"
    if missing and stage is None:
        return f"{exc}: run the stages before this one (snakemake --cores all)"
    return f"{exc}: {maker}{'run' if missing else 'delete it and rerun'} snakemake --cores all"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(command).parse_args(argv)
    try:
        params = load_params(args.params)
        if args.command not in PROJECT_TOOLS:
            check_run_root(params)
        importlib.import_module(COMMANDS[args.command][0]).run(params, args)
        if args.command in BY_STAGE:  # what Snakemake must know, whichever tool ran it
            stage = BY_STAGE[args.command]
            after_job(stage, {w: getattr(args, w) for w in stage.wildcards})
    except FileNotFoundError as exc:  # a reader outside robsens.core.io
        if exc.filename is None:
            raise
        print(f"error: {explain(InputError(exc.filename, 'is missing'))}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {explain(exc)}", file=sys.stderr)
        return 2
    return 0


def exit_fast(code: int) -> NoReturn:
    """Exit without the interpreter's teardown, which frees torch's and MLflow's modules object
    by object: more than a second of a short job's fixed cost (``bench startup``, column
    ``python``). Exit handlers still run (MLflow's flushes) and the streams are flushed; every
    output is already on disk (atomic writes)."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
