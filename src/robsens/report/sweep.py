"""``python -m robsens sweep RUN``: a validation sweep's variants scored by what a claim tests.

A hyperparameter sweep is an overlay (``configs/fcl_sweep.yaml``) whose models are variants of
one method, evaluated on the validation split (``evaluate.split: val``). This reads the run's
per-seed table (nothing is recomputed) and scores every model of the claim's subject role
against the baseline on the claim's primary endpoint, paired by seed, as the claim itself
would (docs/science.md section 9). The rule, declared here and printed with the table:

1. the variant passes every training gate (converged; engaged, for FCL) at every seed;
2. its clean validation accuracy is at most ``--accuracy-margin`` below the baseline's
   (mean paired difference);
3. among those, the largest oriented estimate of the endpoint wins.

The table says which variant ``params.yaml``'s model of that role matches, so the defaults can
be seen to follow the sweep. A run scored on the test split is refused: a choice made there
would leak into the claims.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path
from typing import Any

import pandas as pd

from robsens.core.errors import UserError
from robsens.core.host import generated_by
from robsens.core.io import save_text
from robsens.core.stats import paired_differences, paired_t
from robsens.pipeline.params import load_run_params
from robsens.report.per_seed import per_seed_table
from robsens.training.gates import gate_table

ACCURACY = "accuracy"  # clean accuracy on the evaluated split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="the sweep's run folder (e.g. runs/fcl_sweep)")
    parser.add_argument("--claim", default="fcl_selectivity",
                        help="the claim (a key of claims.endpoints) whose first primary "
                             "endpoint scores the variants (default: fcl_selectivity)")
    parser.add_argument("--accuracy-margin", type=float, default=0.01,
                        help="how far below the baseline's clean validation accuracy a "
                             "variant may be (default: 0.01, one point)")
    parser.add_argument("--out", type=Path, help="write the table here (Markdown) instead of "
                        "printing it")


def by_seed(table: pd.DataFrame, model: str, metric: str) -> dict[int, float]:
    rows = table[table["model"] == model]
    return {int(s): float(v) for s, v in zip(rows["seed"], rows[metric], strict=True)}


def varying(models: dict[str, dict[str, Any]]) -> list[str]:
    """The hyperparameters whose values differ among the variants (the sweep's factors)."""
    keys = dict.fromkeys(k for hp in models.values() for k in hp)
    return [k for k in keys if len({repr(hp.get(k)) for hp in models.values()}) > 1]


def score(sweep: dict[str, Any], table: pd.DataFrame, gates: pd.DataFrame, claim: str,
          margin: float) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per variant: the endpoint's paired interval against the baseline, the clean
    accuracy difference, the engagement record, gate failures, eligibility; and the endpoint."""
    endpoint = sweep["claims"]["endpoints"][claim]["primary"][0]
    metric, sign = endpoint["metric"], 1 if endpoint["direction"] == "higher" else -1
    roles = table.drop_duplicates("model").set_index("model")["role"]
    (baseline,) = roles[roles == "baseline"].index
    rows = []
    for model in roles[roles == endpoint["subject"]].index:
        effect = paired_t(paired_differences(by_seed(table, model, metric),
                                             by_seed(table, baseline, metric)),
                          sweep["claims"]["level"])
        accuracy = paired_differences(by_seed(table, model, ACCURACY),
                                      by_seed(table, baseline, ACCURACY)).mean()
        record = gates[gates["model"] == model]
        failed = [f"seed {s}: {f}" for s, f in zip(record["seed"], record["failures"],
                                                   strict=True) if f]
        rows.append({"model": model, "estimate": effect.estimate, "low": effect.low,
                     "high": effect.high, "n": effect.n, "accuracy_diff": accuracy,
                     "term_over_chance": (record["fcl"] / record["fcl_chance"]).mean(),
                     "grad_share": record["fcl_grad_share"].mean(), "failed": "; ".join(failed),
                     "eligible": not failed and accuracy >= -margin,
                     "oriented": sign * effect.estimate})
    scored = pd.DataFrame(rows).sort_values("oriented", ascending=False, ignore_index=True)
    eligible = scored[scored["eligible"] & scored["oriented"].notna()]
    scored["chosen"] = scored["model"] == (eligible["model"].iloc[0] if len(eligible) else None)
    return scored, {**endpoint, "baseline": baseline}


def _num(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def markdown(sweep: dict[str, Any], defaults: dict[str, Any], scored: pd.DataFrame,
             endpoint: dict[str, Any], claim: str, margin: float, run: Path) -> str:
    variants = {m: sweep["models"][m] for m in scored["model"]}
    factors = varying(variants)
    default_role_model = next((hp for name, hp in defaults["models"].items()
                               if name == endpoint["subject"]), None)
    lines = [
        f"Validation sweep `{run.as_posix()}` ({len(sweep['seeds'])} seeds, evaluated on the "
        f"`{sweep['evaluate']['split']}` split), scored on claim `{claim}`'s primary endpoint "
        f"`{endpoint['metric']}` ({endpoint['direction']} is better; minimum that matters "
        f"{endpoint['min_effect']:g}): each variant minus `{endpoint['baseline']}`, paired by "
        f"seed, t interval at {sweep['claims']['level']:g}. Rule: every training gate passed "
        f"at every seed, clean validation accuracy at most {margin:g} below "
        f"`{endpoint['baseline']}`'s, then the largest estimate.",
        "",
        "| variant | " + " | ".join(f"`{f}`" for f in factors) + " | clean acc. − "
        f"{endpoint['baseline']} | InfoNCE / chance | gradient share | endpoint − "
        f"{endpoint['baseline']} [interval] | gates | eligible |",
        "|---|" + "---|" * len(factors) + "---|---|---|---|---|---|",
    ]
    for row in scored.itertuples():
        name = f"**{row.model}** (chosen)" if row.chosen else row.model
        values = " | ".join(str(variants[row.model].get(f)) for f in factors)
        lines.append(
            f"| {name} | {values} | {_num(row.accuracy_diff)} | {row.term_over_chance:.2f} | "
            f"{row.grad_share:.2f} | {_num(row.estimate)} [{_num(row.low)}, {_num(row.high)}] "
            f"| {row.failed or 'passed'} | {'yes' if row.eligible else 'no'} |")
    chosen = scored[scored["chosen"]]
    lines.append("")
    if chosen.empty:
        lines.append("No variant is eligible: the defaults cannot be chosen from this sweep.")
    elif default_role_model is not None:
        hp = variants[chosen["model"].iloc[0]]
        differs = [k for k in hp if k != "method" and default_role_model.get(k) != hp[k]]
        lines.append(
            f"params.yaml's `models.{endpoint['subject']}` "
            + ("matches the chosen variant." if not differs else
               "differs from the chosen variant in " + ", ".join(
                   f"`{k}` ({default_role_model.get(k)} vs {hp[k]})" for k in differs) + "."))
    return "\n".join(lines) + "\n"


def run(params: dict, args: argparse.Namespace) -> None:
    sweep = load_run_params(args.run)
    if sweep["evaluate"]["split"] != "val":
        raise UserError(f"{args.run}: evaluate.split is {sweep['evaluate']['split']!r}; a "
                        "sweep that chooses hyperparameters is scored on the validation split "
                        "only (evaluate: {split: val})")
    if args.claim not in sweep["claims"]["endpoints"]:
        raise UserError(f"--claim {args.claim}: not a key of claims.endpoints "
                        f"({', '.join(sweep['claims']['endpoints'])})")
    with contextlib.chdir(args.run):
        table, gates = per_seed_table(sweep), gate_table(sweep)
    if table.empty:
        raise UserError(f"{args.run}: no evaluated models yet: run the sweep first")
    scored, endpoint = score(sweep, table, gates, args.claim, args.accuracy_margin)
    text = markdown(sweep, params, scored, endpoint, args.claim, args.accuracy_margin,
                    args.run)
    if args.out is None:
        print(text, end="")
        return
    save_text(args.out, generated_by() + text)
    print(f"wrote {args.out}")
