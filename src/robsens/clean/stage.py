"""``python -m robsens evaluate --model M --seed S``: the clean metrics of one model."""

from __future__ import annotations

import argparse

from robsens.blocks.model_stage import run_model_stage
from robsens.clean.metrics import evaluate_clean
from robsens.data.corner import load_split
from robsens.pipeline import paths


def run(params: dict, args: argparse.Namespace) -> None:
    def compute(model, device) -> dict:
        test = load_split(paths.DATA_DIR, paths.eval_split(params, "test"), device)
        probe = load_split(paths.DATA_DIR, paths.eval_split(params, "probe"), device)
        return evaluate_clean(model, test, probe, params["evaluate"]["batch_size"])

    m = run_model_stage(params, args, "clean", compute)
    print(f"{args.model} seed {args.seed}: accuracy {m['accuracy']:.4f}, "
          f"rare {m['rare_accuracy']:.4f}")
