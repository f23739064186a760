"""``python -m robsens pipeline dvc|deps|docs|dag``: files generated from the pipeline itself.

- ``dvc``: the stage table as ``dvc.yaml``;
- ``deps``: print each stage's computed code dependencies;
- ``docs``: README.md's generated tables (parameters, corruptions); ``--check`` only fails
  when one is stale;
- ``dag``: ``docs/dag.svg``, Snakemake's rule graph drawn by graphviz's ``dot``.
"""

from __future__ import annotations

import argparse

from robsens.core.io import save_text
from robsens.pipeline.dag import write_dag
from robsens.pipeline.deps import code_files
from robsens.pipeline.docs import write_readme_tables
from robsens.pipeline.dvc import DVC_YAML, render
from robsens.pipeline.stages import BY_NAME


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["dvc", "deps", "docs", "dag"],
                        help="dvc: write dvc.yaml; deps: print each stage's code dependencies; "
                             "docs: write README.md's generated tables; dag: draw docs/dag.svg")
    parser.add_argument("stages", nargs="*", help="deps: only these stages (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="docs: write nothing, fail if README.md's tables are stale")


def run(params: dict, args: argparse.Namespace) -> None:
    if args.action == "dvc":
        save_text(DVC_YAML, render())
        print(f"wrote {DVC_YAML}")
    elif args.action == "docs":
        write_readme_tables(params, check=args.check)
    elif args.action == "dag":
        write_dag()
    else:
        for name in args.stages or BY_NAME:
            print(f"{name}:")
            for path in code_files(name):
                print(f"  {path}")
