"""The per-seed table the claims are decided on: every image study's per-model metrics, the
models' roles, each study's gate failures and the metrics derived across models.

Above the stage families (it joins their results); the report's assembler reads it.
"""

from __future__ import annotations

import pandas as pd

from robsens.methods import ModelRole
from robsens.pipeline import paths
from robsens.report.tables import load_metrics, model_order, with_roles
from robsens.robustness.claims import noise_curve_metrics
from robsens.robustness.metrics import relative_corruption_error
from robsens.training.gates import GATE_COLUMNS, gate_columns, gate_table

EVALUATIONS = ("clean", "robustness", "sensitivity")  # the per-model metrics kinds
SPURIOUS_EVALUATIONS = ("spurious",)  # those of the spurious-background study
# Every study's evaluations: their metric names are distinct (the spurious ones all start
# with `spurious_`), so a model trained in both studies has one row with both.
STUDY_EVALUATIONS = ((paths.CORNER, EVALUATIONS), (paths.SPURIOUS, SPURIOUS_EVALUATIONS))


def per_seed_table(params: dict) -> pd.DataFrame:
    """One row per model x seed with every scalar metric of the per-model evaluations (a
    column each), the model's role columns, the derived metrics the claims are decided on, and
    ``per_image``: metric -> the per-image outcomes it averages, where an evaluation stores
    them. The table :func:`robsens.report.claims.decide_claims` pairs seeds (and images) in.
    Both image studies' evaluations join it (:data:`STUDY_EVALUATIONS`), and each study's
    gate failures (:mod:`robsens.training.gates`) as ``gates`` / ``spurious_gates``."""
    table, per_image = None, {}
    for study, kind in ((s, k) for s, kinds in STUDY_EVALUATIONS for k in kinds):
        df = load_metrics(params, kind, study)
        if df.empty:
            continue
        for row in df.itertuples():
            per_image.setdefault((row.model, row.seed), {}).update(
                getattr(row, "per_image", None) or {})
        scalar = [c for c in df.columns if c in ("model", "seed")
                  or pd.api.types.is_numeric_dtype(df[c])]
        df = df[scalar]
        if table is not None:  # a name two evaluations share keeps the first's value
            df = df[["model", "seed", *(c for c in df.columns if c not in table.columns)]]
        table = df if table is None else table.merge(df, on=["model", "seed"], how="outer")
    if table is None:
        return pd.DataFrame(columns=["model", "seed", *ModelRole._fields])
    table = with_roles(params, model_order(params, table))
    table = table.merge(gate_columns(gate_table(params)), on=["model", "seed"], how="left")
    for column in GATE_COLUMNS.values():  # no record (not trained in that study): no failure
        table[column] = table[column].fillna("") if column in table else ""
    rce = relative_corruption_error(table, load_metrics(params, "robustness"))
    return table.assign(**noise_curve_metrics(table), **{rce.name: rce},
                        per_image=[per_image.get((m, s), {})
                                   for m, s in zip(table["model"], table["seed"], strict=True)])
