"""Speed benchmarks: ``python -m robsens bench <name>`` runs ``robsens.bench.<name>.run``.

Every module of this package is a benchmark (found automatically); each prints figures
and ratios measured side by side in one run (against a target where one is set), never
as a timed test.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

NAMES = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=NAMES, help="which benchmark")


def run(params: dict, args: argparse.Namespace) -> None:
    importlib.import_module(f"{__name__}.{args.what}").run(params)
