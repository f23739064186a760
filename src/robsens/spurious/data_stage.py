"""``python -m robsens spurious_data``: the spurious-background splits and their manifest."""

from __future__ import annotations

import argparse

from robsens.pipeline import paths
from robsens.spurious.data import synthesize_spurious


def run(params: dict, args: argparse.Namespace) -> None:
    manifest = synthesize_spurious(params["data"], params["spurious"]["data"],
                                   paths.SPURIOUS.data_dir)
    agreement = {name: round(split["cue_agreement"], 3)
                 for name, split in manifest["splits"].items()}
    print(f"wrote {paths.SPURIOUS.data_dir} ({manifest['source']} digits); cue agreement "
          f"per split: {agreement}")
