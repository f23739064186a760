"""``python -m robsens pipeline dvc|commit|fingerprints|deps|reruns|docs|dag``: files
generated from the pipeline itself, and the pipeline's record in dvc.lock.

- ``dvc``: the stage table as ``dvc.yaml``;
- ``commit``: record a finished run in ``dvc.lock`` (what Snakemake runs on success): drop the
  entries of stages ``dvc.yaml`` no longer defines, then ``dvc commit --force --no-relink``;
- ``fingerprints``: write the jobs' fingerprint files (:mod:`robsens.pipeline.fingerprints`);
- ``deps``: print each stage's code dependencies (the modules its fingerprint covers);
- ``reruns``: the rerun table (:mod:`robsens.pipeline.reruns`), ``--out`` a file for it;
- ``docs``: README.md's generated tables (parameters, corruptions); ``--check`` only fails
  when one is stale;
- ``dag``: ``docs/dag.svg``, Snakemake's rule graph drawn by graphviz's ``dot``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from robsens.core.io import save_text
from robsens.pipeline.dag import write_dag
from robsens.pipeline.docs import write_readme_tables
from robsens.pipeline.dvc import DVC_LOCK, DVC_YAML, commit, render
from robsens.pipeline.fingerprints import expected, write_fingerprints
from robsens.pipeline.reruns import measure_all


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["dvc", "commit", "fingerprints", "deps", "reruns",
                                           "docs", "dag"],
                        help="dvc: write dvc.yaml; commit: record a finished run in dvc.lock, "
                             "dropping stages dvc.yaml no longer defines; fingerprints: write "
                             "the jobs' fingerprints; deps: print each stage's code "
                             "dependencies; reruns: what each edit of a list makes both tools "
                             "rerun, in a finished study; docs: write README.md's generated "
                             "tables; dag: draw docs/dag.svg")
    parser.add_argument("stages", nargs="*", help="deps: only these stages (default: all)")
    parser.add_argument("--out", type=Path, help="reruns: also write the table to this file")
    parser.add_argument("--check", action="store_true",
                        help="docs: write nothing, fail if README.md's tables are stale")


def run(params: dict, args: argparse.Namespace) -> None:
    if args.action == "dvc":
        save_text(DVC_YAML, render())
        print(f"wrote {DVC_YAML}")
    elif args.action == "commit":
        dropped = commit()
        print(f"{DVC_LOCK}: recorded the run"
              + (f"; dropped {len(dropped)} entries of stages {DVC_YAML} no longer defines: "
                 + ", ".join(dropped) if dropped else ""))
    elif args.action == "fingerprints":
        changed = write_fingerprints(params)
        print(f"fingerprints: {len(changed)} changed"
              + "".join(f"\n  {path.as_posix()}" for path in changed))
    elif args.action == "reruns":
        measure_all(params, args.out)
    elif args.action == "docs":
        write_readme_tables(params, check=args.check)
    elif args.action == "dag":
        write_dag()
    else:
        for path, text in expected(params).items():
            content = json.loads(text)
            if args.stages and content["stage"] not in args.stages:
                continue
            print(f"{path.as_posix()} ({content['code']['digest']}):")
            print("".join(f"  {m}\n" for m in content["code"]["modules"]), end="")
