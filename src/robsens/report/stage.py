"""``python -m robsens report``: results.md, summary.json and the figures."""

from __future__ import annotations

import argparse

from robsens.report.assemble import write_report


def run(params: dict, args: argparse.Namespace) -> None:
    print(f"wrote {write_report(params)}")
