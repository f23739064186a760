"""Which trained models a claim may decide on (docs/science.md section 9), from their records.

A comparison counts only between models that finished learning and that ran the method they
are named after. Each model and seed of each image study is checked against the gates params
declares (``gates``) from its ``history.json`` alone: the convergence record the training
loop writes, the best epoch's clean validation accuracy beside the baseline's at the same
seed, and, for FCL-type models, the contrastive term and its gradient share at the best epoch
(``Method.diagnostics``). A failure is a plain sentence; the claims name it where they leave
a comparison undecided.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from robsens.core.config import model_names
from robsens.core.io import load_json
from robsens.methods import model_roles
from robsens.pipeline import paths

# Roles whose models carry FCL's contrastive term (and so its engagement record).
CONTRASTIVE_ROLES = ("fcl", "ablation", "positive_control")
# Roles held to the baseline's clean accuracy: every robust-training method (the cue control
# is built to learn something else, so its accuracy is no gate).
ACCURACY_GATED_ROLES = ("noise_curve", "adversarial_curve", *CONTRASTIVE_ROLES)
STUDIES = (paths.CORNER, paths.SPURIOUS)
# The per-seed table's column of each study's gate failures (the claims read a metric's gates
# from the column of the study that computed it: the spurious study's metrics start with
# "spurious_").
GATE_COLUMNS = {paths.CORNER.name: "gates", paths.SPURIOUS.name: "spurious_gates"}


def histories(params: Mapping[str, Any], study: paths.Study) -> list[dict[str, Any]]:
    """The ``history.json`` of every model x seed of the study that has one."""
    found = (paths.fill(study.history, model=m, seed=s)
             for m in model_names(params, study.model_set) for s in params["seeds"])
    return [load_json(p) for p in found if p.is_file()]


def record_row(history: Mapping[str, Any]) -> dict[str, Any]:
    """One model x seed's convergence and engagement record: the best epoch's row."""
    conv = history["convergence"]
    best = history["epochs"][conv["best_epoch"] - 1] if conv["best_epoch"] else {}
    return {"model": history["model"], "seed": history["seed"], **conv,
            "fcl": best.get("diag_fcl"), "fcl_chance": best.get("diag_fcl_chance"),
            "fcl_grad_share": best.get("diag_fcl_grad_share")}


def failures(row: Mapping[str, Any], baseline_accuracy: float | None, role: str,
             gates: Mapping[str, Any]) -> list[str]:
    """The gates one model x seed fails, each as a sentence."""
    out = []
    if gates["converged"] and not row["converged"]:
        out.append(f"not converged (stopped at max_epochs {row['max_epochs']})")
    if role in ACCURACY_GATED_ROLES and baseline_accuracy is not None:
        gap = baseline_accuracy - row["val_accuracy"]
        if gap > gates["accuracy_margin"]:
            out.append(f"clean val accuracy {row['val_accuracy']:.3f} is {gap:.3f} below the "
                       f"baseline's (margin {gates['accuracy_margin']:g})")
    if role in CONTRASTIVE_ROLES:
        term, chance, share = row["fcl"], row["fcl_chance"], row["fcl_grad_share"]
        if term is None or chance is None or share is None:
            out.append("no engagement record (diagnostics missing)")
        elif term > gates["engagement_ratio"] * chance:
            out.append(f"contrastive term not engaged ({term:.3f} vs chance {chance:.3f}, "
                       f"gate {gates['engagement_ratio']:g} x chance)")
        elif share < gates["min_grad_share"]:
            out.append(f"contrastive gradient {share:.1%} of the cross-entropy's "
                       f"(gate {gates['min_grad_share']:.0%})")
    return out


def gate_table(params: Mapping[str, Any]) -> pd.DataFrame:
    """One row per study x model x seed: its convergence and engagement record, its role and
    ``failures`` ("; "-joined, "" when it passes every gate)."""
    roles = model_roles(params)
    rows = []
    for study in STUDIES:
        records = [record_row(h) for h in histories(params, study)]
        baseline = {r["seed"]: r["val_accuracy"] for r in records
                    if roles[r["model"]].role == "baseline"}
        for r in records:
            role = roles[r["model"]].role
            rows.append({"study": study.name, "role": role, **r, "failures": "; ".join(
                failures(r, baseline.get(r["seed"]), role, params["gates"]))})
    return pd.DataFrame(rows)


def gate_columns(gates: pd.DataFrame) -> pd.DataFrame:
    """Per model x seed, each study's failures in its column of :data:`GATE_COLUMNS`: what
    the per-seed table joins, so the claims can leave flagged models undecided."""
    if gates.empty:
        return pd.DataFrame(columns=["model", "seed", *GATE_COLUMNS.values()])
    wide = gates.pivot(index=["model", "seed"], columns="study", values="failures")
    return wide.rename(columns=GATE_COLUMNS).reset_index().rename_axis(columns=None)
