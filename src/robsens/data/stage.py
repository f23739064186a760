"""``python -m robsens synthesize``: the corner-digit splits and their manifest."""

from __future__ import annotations

import argparse

from robsens.data.corner import synthesize
from robsens.pipeline import paths


def run(params: dict, args: argparse.Namespace) -> None:
    manifest = synthesize(params["data"], paths.DATA_DIR)
    for name, split in manifest["splits"].items():
        print(f"{name}: {split['n']} images, class counts {split['class_counts']}")
