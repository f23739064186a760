"""``python -m robsens section NAME RUN --out FILE``: one section of a run's report as a document.

A measurement an overlay run makes (the contrast sweep of ``configs/contrast.yaml``, say)
belongs in the docs with the command that made it. This renders one section of the report
(``report.assemble.SECTIONS``, by name: ``contrast``, ``spurious``, ...) from the run's results
with the report stage's own code (nothing is retrained or re-evaluated), writes its figures
into ``<FILE stem>-figures/`` beside the document, and puts the generated-by line on top.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from robsens.core.errors import UserError
from robsens.core.host import generated_by
from robsens.core.io import save_text
from robsens.pipeline.params import load_run_params
from robsens.report.assemble import SECTIONS

BY_NAME = {section.__name__.removesuffix("_section"): section for section in SECTIONS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(BY_NAME), help="the report section")
    parser.add_argument("run", type=Path, help="the run's folder (e.g. runs/contrast)")
    parser.add_argument("--out", type=Path, required=True,
                        help="the document to write (Markdown); its figures go beside it")


def run(params: dict, args: argparse.Namespace) -> None:
    run_params = load_run_params(args.run)
    figures = (args.out.parent / f"{args.out.stem}-figures").resolve()  # before the chdir
    figures.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(args.run):
        text, _ = BY_NAME[args.name](run_params, figures)
    if not text:
        raise UserError(f"{args.run}: the {args.name} section has nothing to show in this run")
    save_text(args.out, generated_by() + text.replace("](figures/", f"]({figures.name}/"))
    print(f"wrote {args.out} (figures in {figures.name}/ beside it)")
