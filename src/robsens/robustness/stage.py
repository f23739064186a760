"""``python -m robsens robustness --model M --seed S``: corrupted accuracy and RFS."""

from __future__ import annotations

import argparse

from robsens.blocks.model_stage import run_model_stage
from robsens.core.io import save_json
from robsens.pipeline import paths
from robsens.robustness.metrics import robustness_metrics, severity_curve


def run(params: dict, args: argparse.Namespace) -> None:
    m = run_model_stage(params, args, "robustness",
                        lambda model, device: robustness_metrics(params, model, device))
    save_json(paths.fill(paths.ROBUSTNESS_CURVE, model=args.model, seed=args.seed),
              severity_curve(m))
    print(f"{args.model} seed {args.seed}: mean corrupted accuracy "
          f"{m['mean_corrupted_accuracy']:.4f}, rare under corruption "
          f"{m['mean_corrupted_rare_accuracy']:.4f}, mean RFS {m['mean_rfs']:.3f}")
