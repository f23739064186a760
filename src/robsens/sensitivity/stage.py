"""``python -m robsens sensitivity --model M --seed S``: utility/sensitivity maps, summaries."""

from __future__ import annotations

import argparse

from robsens.blocks.model_stage import run_model_stage
from robsens.core.io import save_npz
from robsens.pipeline import paths
from robsens.sensitivity.maps import sensitivity_metrics


def run(params: dict, args: argparse.Namespace) -> None:
    def compute(model, device) -> dict:
        summary, arrays = sensitivity_metrics(params, model, device)
        save_npz(paths.fill(paths.SENSITIVITY_ARRAYS, model=args.model, seed=args.seed),
                 **arrays)
        return summary

    m = run_model_stage(params, args, "sensitivity", compute)
    print(f"{args.model} seed {args.seed}: output selectivity (log10) "
          f"{m['output_selectivity_removal']:.3f} (JS), "
          f"{m['output_margin_selectivity_removal']:.3f} (margin); embedding context selectivity "
          f"{m['context_selectivity_perturbation']:.3f} (perturbation), "
          f"{m['context_selectivity_gradient']:.3f} (gradient); alignment "
          f"{m['alignment_perturbation']:.3f} / {m['alignment_gradient']:.3f}")
