"""``python -m robsens report``: results.md, summary.json and the figures, then the
pipeline-level MLflow run (best effort: the report is on disk first)."""

from __future__ import annotations

import argparse

from robsens.report.assemble import write_report
from robsens.report.tracking import log_report


def run(params: dict, args: argparse.Namespace) -> None:
    print(f"wrote {write_report(params)}")
    log_report(params)
