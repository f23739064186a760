"""``python -m robsens <stage>``: one command per pipeline stage.

Snakemake rules, DVC stages and users at the shell run the very same commands. Every
command validates params.yaml first; expected failures print one line, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from robsens import paths
from robsens.config import ParamsError, load_params


def cmd_validate(params: dict, args: argparse.Namespace) -> None:
    print(f"{args.params}: valid ({len(params['models'])} models x {len(params['seeds'])} seeds)")


def cmd_synthesize(params: dict, args: argparse.Namespace) -> None:
    from robsens.data.corner import synthesize

    manifest = synthesize(params["data"], paths.DATA_DIR)
    for name, split in manifest["splits"].items():
        print(f"{name}: {split['n']} images, class counts {split['class_counts']}")


def cmd_train(params: dict, args: argparse.Namespace) -> None:
    from robsens.io import load_json
    from robsens.tracking import best_effort, log_training
    from robsens.train import train

    _check_model(params, args.model)
    out = paths.model_dir(args.model, args.seed)
    train(params, args.model, args.seed, paths.DATA_DIR, out,
          paths.checkpoint_dir(args.model, args.seed))
    source = load_json(paths.DATA_DIR / "manifest.json")["source"]
    best_effort("logging", lambda: log_training(params, args.model, out, source))


def _model_stage(params: dict, args: argparse.Namespace, kind: str,
                 compute: Callable[[Any, Any], dict]) -> dict:
    """Shared frame of a per-model evaluation: load, compute, save ``<kind>.json``, log.

    ``compute(model, device)`` returns the stage's metrics; they are written to disk first,
    then added to the model's MLflow run on a best-effort basis.
    """
    from robsens.io import load_json, save_json
    from robsens.runtime import make_deterministic, resolve_device
    from robsens.tracking import best_effort, log_results
    from robsens.train import load_trained

    _check_model(params, args.model)
    make_deterministic(args.seed, params["threads"])
    device = resolve_device(params["device"])
    model_dir = paths.model_dir(args.model, args.seed)
    model = load_trained(model_dir / "model.pt", device)
    history = load_json(model_dir / "history.json")
    metrics = {"model": args.model, "method": history["method"], "seed": args.seed,
               **compute(model, device)}
    out = paths.metrics_path(args.model, args.seed, kind)
    save_json(out, metrics)
    best_effort("logging", lambda: log_results(params, history["identity"], out, kind))
    return metrics


def cmd_evaluate(params: dict, args: argparse.Namespace) -> None:
    from robsens.data.corner import load_split
    from robsens.evaluate import evaluate_clean

    def compute(model, device) -> dict:
        test = load_split(paths.DATA_DIR, "test", device)
        probe = load_split(paths.DATA_DIR, "probe", device)
        return evaluate_clean(model, test, probe, params["evaluate"]["batch_size"])

    m = _model_stage(params, args, "clean", compute)
    print(f"{args.model} seed {args.seed}: accuracy {m['accuracy']:.4f}, "
          f"rare {m['rare_accuracy']:.4f}")


def cmd_corrupt(params: dict, args: argparse.Namespace) -> None:
    from robsens.corruptions.sets import CORRUPTED_DIR, corrupt_test_split
    from robsens.runtime import make_deterministic, resolve_device

    make_deterministic(params["robustness"]["seed"], params["threads"])
    manifest = corrupt_test_split(params, resolve_device(params["device"]))
    print(f"{len(manifest['corruptions'])} corruptions x severities {manifest['severities']} "
          f"of {manifest['n']} test images -> {CORRUPTED_DIR}")


def cmd_robustness(params: dict, args: argparse.Namespace) -> None:
    from robsens.robustness import robustness_metrics

    m = _model_stage(params, args, "robustness",
                     lambda model, device: robustness_metrics(params, model, device))
    print(f"{args.model} seed {args.seed}: mean corrupted accuracy "
          f"{m['mean_corrupted_accuracy']:.4f}, rare under corruption "
          f"{m['mean_corrupted_rare_accuracy']:.4f}, mean RFS {m['mean_rfs']:.3f}")


def cmd_sensitivity(params: dict, args: argparse.Namespace) -> None:
    from robsens.io import save_npz
    from robsens.sensitivity import arrays_path, sensitivity_metrics

    def compute(model, device) -> dict:
        summary, arrays = sensitivity_metrics(params, model, device)
        save_npz(arrays_path(args.model, args.seed), **arrays)
        return summary

    m = _model_stage(params, args, "sensitivity", compute)
    print(f"{args.model} seed {args.seed}: context selectivity "
          f"{m['context_selectivity_perturbation']:.3f} (perturbation), "
          f"{m['context_selectivity_gradient']:.3f} (gradient); alignment "
          f"{m['alignment_perturbation']:.3f} / {m['alignment_gradient']:.3f}")


def cmd_linear(params: dict, args: argparse.Namespace) -> None:
    from robsens.io import load_json
    from robsens.linear.study import RESULTS_DIR, SUMMARY_JSON, run_linear_study
    from robsens.linear.tracking import log_linear_study
    from robsens.tracking import best_effort

    run_linear_study(params["linear"], RESULTS_DIR)
    summary = load_json(RESULTS_DIR / SUMMARY_JSON)
    best_effort("logging", lambda: log_linear_study(params, RESULTS_DIR))
    for claim in summary["claims"]:
        print(f"{claim['id']}: population {claim['population']['supported']}, "
              f"finite samples {claim['finite']['supported']}")
    print(f"{summary['fits']} fits in {summary['runtime_s']:.1f} s -> {RESULTS_DIR}")


def cmd_report(params: dict, args: argparse.Namespace) -> None:
    from robsens.report import write_report

    print(f"wrote {write_report(params)}")


def cmd_mlflow(params: dict, args: argparse.Namespace) -> None:
    from robsens.tracking import init_tracking, sync_from_disk, tracking_uri

    if args.action == "init":
        exp = init_tracking(params)
        print(f"MLflow experiment {params['mlflow']['experiment']!r} (id {exp}) ready at "
              f"{tracking_uri(params)}")
    else:
        print(f"synced {sync_from_disk(params)} run(s) from disk to {tracking_uri(params)}")


# Benchmarks: name -> module with ``run(params) -> None`` that prints figures and ratios.
BENCHES = {"methods": "robsens.bench_methods", "corrupt": "robsens.bench_corrupt",
           "maps": "robsens.bench_maps"}


def cmd_bench(params: dict, args: argparse.Namespace) -> None:
    import importlib

    importlib.import_module(BENCHES[args.what]).run(params)


def _check_model(params: dict, model: str) -> None:
    if model not in params["models"]:
        raise ParamsError(f"--model {model!r} is not a key of 'models' in params.yaml "
                          f"(known: {', '.join(params['models'])})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m robsens", description=__doc__)
    parser.add_argument("--params", default="params.yaml", type=Path,
                        help="params file (default: params.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, tuple[Callable, str]] = {
        "validate": (cmd_validate, "validate params.yaml against the schema"),
        "synthesize": (cmd_synthesize, "build the corner-digit splits and manifest"),
        "train": (cmd_train, "train one model for one seed (resumes from checkpoints)"),
        "evaluate": (cmd_evaluate, "clean accuracy, rare-class accuracy, probe flip rates"),
        "corrupt": (cmd_corrupt, "write the corrupted test sets (all severities) and manifest"),
        "robustness": (cmd_robustness, "corrupted accuracy, rare-class accuracy under "
                       "corruption, RFS curve"),
        "sensitivity": (cmd_sensitivity, "utility and sensitivity maps, context selectivity, "
                        "alignment"),
        "linear": (cmd_linear, "linear study: population optima and finite-sample adversarial "
                   "training on core/spurious Gaussian data"),
        "report": (cmd_report, "write reports/results.md, summary.json and figures"),
        "mlflow": (cmd_mlflow, "init: create the MLflow experiment; sync: log results on disk"),
        "bench": (cmd_bench, "speed benchmarks (print timings and ratios)"),
    }
    for name, (func, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if name in ("train", "evaluate", "robustness", "sensitivity"):
            p.add_argument("--model", required=True, help="a key of 'models' in params.yaml")
            p.add_argument("--seed", required=True, type=int)
        if name == "mlflow":
            p.add_argument("action", choices=["init", "sync"])
        if name == "bench":
            p.add_argument("what", choices=sorted(BENCHES))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params)
        args.func(params, args)
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: missing input {exc.filename}: run the stages before it "
              "(snakemake --cores all)", file=sys.stderr)
        return 2
    return 0
