"""``python -m robsens corrupt``: the noise-injection stage (corrupted test sets)."""

from __future__ import annotations

import argparse

from robsens.core.runtime import make_deterministic, resolve_device
from robsens.pipeline import paths
from robsens.robustness.corruptions.sets import corrupt_test_split


def run(params: dict, args: argparse.Namespace) -> None:
    make_deterministic(params["robustness"]["seed"], params["threads"])
    manifest = corrupt_test_split(params, resolve_device(params["device"]))
    print(f"{len(manifest['corruptions'])} corruptions x severities {manifest['severities']} "
          f"of {manifest['n']} {manifest['source']['split']} images -> {paths.CORRUPTED_DIR}")
