"""``python -m robsens spurious_evaluate --model M --seed S``: the spurious metrics of one
model trained on the spurious-background data."""

from __future__ import annotations

import argparse

from robsens.blocks.model_stage import run_model_stage
from robsens.core.io import save_json
from robsens.data.corner import load_split
from robsens.pipeline import paths
from robsens.spurious.metrics import evaluate_spurious, rfs_records

KIND = "spurious"  # results/spurious/metrics/<model>/seed<k>/spurious.json


def run(params: dict, args: argparse.Namespace) -> None:
    def compute(model, device) -> dict:
        splits = {s: load_split(paths.SPURIOUS.data_dir, s, device)
                  for s in paths.SPURIOUS_TEST_SPLITS}
        return evaluate_spurious(model, splits, params["spurious"]["rfs"],
                                 params["evaluate"]["batch_size"])

    m = run_model_stage(params, args, KIND, compute, paths.SPURIOUS)
    save_json(paths.fill(paths.SPURIOUS_RFS_CURVE, model=args.model, seed=args.seed),
              rfs_records(m))
    print(f"{args.model} seed {args.seed}: accuracy {m['spurious_accuracy']:.4f}, "
          f"cue independent {m['spurious_accuracy_independent']:.4f}, reversed "
          f"{m['spurious_accuracy_reversed']:.4f}, mean RFS {m['spurious_mean_rfs']:.3f}")
