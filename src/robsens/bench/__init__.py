"""Speed benchmarks: ``python -m robsens bench <name>`` runs ``robsens.bench.<name>.run``.

Every module of this package is a benchmark (found automatically); each prints figures
and ratios measured side by side in one run (against a target where one is set), never
as a timed test. ``--record`` also puts the printed output into ``docs/benchmarks.md``,
under the benchmark's own heading with the command, the machine, its load and the date:
that file holds measured numbers only, each written by the command that measured it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import pkgutil
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from robsens.core.host import machine
from robsens.core.io import save_text

NAMES = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]))
RECORD = Path("docs/benchmarks.md")
HEADER = ("# Benchmarks\n\nMeasured numbers only, each section written by the command it "
          "names (`python -m robsens bench <name> --record`), with the machine, its load and "
          "the date. Rerun a command to refresh its section; the others are kept.\n")


class _Tee(io.TextIOBase):
    """Writes to the terminal and keeps a copy."""

    def __init__(self, stream) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.stream.flush()
        return self.copy.write(text)


def record(name: str, output: str, before: str, after: str) -> None:
    """Replace (or add) the benchmark's section in :data:`RECORD`, sections in name order."""
    text = RECORD.read_text() if RECORD.is_file() else HEADER
    sections = dict(re.findall(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench -->\n", text, re.S))
    sections[name] = (f"## {name}\n\n`python -m robsens bench {name}`, "
                      f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine before: {before}; "
                      f"after: {after}.\n\n```\n{output.rstrip()}\n```\n\n")
    body = "".join(f"<!-- bench:{k} -->\n{v}<!-- /bench -->\n" for k, v in sorted(sections.items()))
    save_text(RECORD, HEADER + "\n" + body)
    print(f"recorded in {RECORD}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=NAMES, help="which benchmark")
    parser.add_argument("--record", action="store_true",
                        help=f"also write the output into {RECORD} (with machine and date)")


def run(params: dict, args: argparse.Namespace) -> None:
    module = importlib.import_module(f"{__name__}.{args.what}")
    if not args.record:
        module.run(params)
        return
    before, tee = machine(), _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        module.run(params)
    record(args.what, tee.copy.getvalue(), before, machine())
