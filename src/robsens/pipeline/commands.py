"""``python -m robsens pipeline dvc|deps``: the stage table as dvc.yaml, and code deps."""

from __future__ import annotations

import argparse

from robsens.core.io import save_text
from robsens.pipeline.deps import code_files
from robsens.pipeline.dvc import DVC_YAML, render
from robsens.pipeline.stages import BY_NAME


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["dvc", "deps"],
                        help="dvc: write dvc.yaml; deps: print each stage's code dependencies")
    parser.add_argument("stages", nargs="*", help="deps: only these stages (default: all)")


def run(params: dict, args: argparse.Namespace) -> None:
    if args.action == "dvc":
        save_text(DVC_YAML, render())
        print(f"wrote {DVC_YAML}")
        return
    for name in args.stages or BY_NAME:
        print(f"{name}:")
        for path in code_files(name):
            print(f"  {path}")
