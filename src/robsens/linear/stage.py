"""``python -m robsens linear``: the linear core/spurious study and its MLflow run."""

from __future__ import annotations

import argparse

from robsens.core.io import load_json
from robsens.core.tracking import best_effort
from robsens.linear.study import run_linear_study
from robsens.linear.tracking import log_linear_study
from robsens.pipeline import paths


def run(params: dict, args: argparse.Namespace) -> None:
    seconds = run_linear_study(params["linear"], paths.LINEAR_DIR)
    summary = load_json(paths.LINEAR_SUMMARY)
    best_effort("logging", lambda: log_linear_study(params, paths.LINEAR_DIR, seconds))
    for claim in summary["claims"]:
        print(f"{claim['id']}: population {claim['population']['supported']}, "
              f"finite samples {claim['finite']['supported']}")
    print(f"{summary['fits']} fits in {seconds:.1f} s -> {paths.LINEAR_DIR}")
