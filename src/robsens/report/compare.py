"""``python -m robsens compare OTHER``: the default study's claims beside another run's.

Made for the question docs/science.md section 9 asks of the training budget: does a run
with twice the epochs and a looser convergence rule (``configs/long.yaml``) reach the same
verdict on every claim, with every primary estimate within its interval's half-width of the
default study's? Reads both runs' ``reports/summary.json`` (nothing is recomputed) and prints
a Markdown table, or writes it with ``--out`` under a line naming the command, the machine
and the date, so the numbers in the docs always say where they come from.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from robsens.core.host import generated_by
from robsens.core.io import load_json, save_text
from robsens.pipeline import paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("other", type=Path,
                        help="the other run's folder (e.g. runs/long) or its summary.json")
    parser.add_argument("--out", type=Path, help="write the table here (Markdown) instead of "
                        "printing it")


def claims(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Claim id -> its verdict, reason and comparisons, from a flattened summary.json."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in summary.items():
        parts = key.split(".")
        if parts[0] == "claims" and len(parts) == 3 and parts[2] in (
                "verdict", "reason", "comparisons", "number"):
            out.setdefault(parts[1], {})[parts[2]] = value
    return out


def _label(c: dict[str, Any]) -> str:
    ref = f" − {c['reference']}" if c.get("reference") else ""
    return f"`{c['metric']}` {c['subject']}{ref}"


def table(default: dict[str, Any], other: dict[str, Any], other_name: str) -> str:
    """The verdicts side by side, then every primary comparison's estimate in both runs."""
    ours, theirs = claims(default), claims(other)
    ids = sorted(set(ours) & set(theirs), key=lambda c: (ours[c].get("number", 0), c))
    lines = ["| # | claim | default | " + other_name + " | same verdict |", "|---|---|---|---|---|"]
    for cid in ids:
        a, b = ours[cid]["verdict"], theirs[cid]["verdict"]
        lines.append(f"| {ours[cid].get('number', '')} | `{cid}` | {a} | {b} | "
                     f"{'yes' if a == b else '**no**'} |")
    lines += ["", "| claim | comparison | default [interval] | " + other_name
              + " | difference | half-width | within |", "|---|---|---|---|---|---|---|"]
    for cid in ids:
        theirs_by = {_label(c): c for c in theirs[cid].get("comparisons") or []}
        for c in ours[cid].get("comparisons") or []:
            t = theirs_by.get(_label(c))
            if t is None or c.get("estimate") is None or t.get("estimate") is None:
                continue
            half = (c["high"] - c["low"]) / 2 if c.get("low") is not None else math.nan
            diff = t["estimate"] - c["estimate"]
            within = "yes" if abs(diff) < half else ("**no**" if half == half else "n/a")
            lines.append(f"| `{cid}` | {_label(c)} | {c['estimate']:+.4f} [{c['low']:+.4f}, "
                         f"{c['high']:+.4f}] | {t['estimate']:+.4f} | {diff:+.4f} | "
                         f"{half:.4f} | {within} |")
    return "\n".join(lines) + "\n"


def run(params: dict, args: argparse.Namespace) -> None:
    other = args.other / paths.REPORT_SUMMARY if args.other.is_dir() else args.other
    for path in (paths.REPORT_SUMMARY, other):
        if not Path(path).is_file():
            sys.exit(f"error: {path} not found: run that study (and its report) first")
    text = table(load_json(paths.REPORT_SUMMARY), load_json(other), str(args.other))
    if args.out is None:
        print(text)
        return
    save_text(args.out, generated_by() + text)
    print(f"wrote {args.out}")
