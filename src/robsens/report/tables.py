"""Per-model metrics files as tables: what every report section reads."""

from __future__ import annotations

import pandas as pd

from robsens.core.config import model_names
from robsens.core.io import load_json
from robsens.methods import ModelRole, model_roles
from robsens.pipeline import paths
from robsens.robustness.claims import over_noise_curve


def load_metrics(params: dict, kind: str, study: paths.Study = paths.CORNER) -> pd.DataFrame:
    """The study's ``<kind>.json`` metrics files (every model x seed of params that has one) as
    one row each: results of models or seeds no longer in params never reach the report."""
    files = [study.metrics_path(m, s, kind) for m in model_names(params, study.model_set)
             for s in params["seeds"]]
    return pd.DataFrame([load_json(p) for p in files if p.is_file()])


def model_order(params: dict, df: pd.DataFrame) -> pd.DataFrame:
    """Rows in the order of ``models`` in params.yaml (the order users wrote)."""
    order = {name: i for i, name in enumerate(params["models"])}
    return df.sort_values(["model", "seed"], key=lambda s: s.map(order) if s.name == "model"
                          else s).reset_index(drop=True)


def with_roles(params: dict, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each model's role in the study (:func:`robsens.methods.model_roles`) as the
    columns ``role``, ``curve_param``, ``curve`` and ``norm``; empty for a model that is no
    longer in params. The claims select models by these columns, never by name."""
    roles = model_roles(params)
    columns = pd.DataFrame([roles[m]._asdict() if m in roles else {} for m in df["model"]],
                           index=df.index, columns=list(ModelRole._fields))
    return df.join(columns)


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
    Both image studies' evaluations join it (:data:`STUDY_EVALUATIONS`)."""
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
    derived = over_noise_curve(table)
    return table.assign(**{derived.name: derived},
                        per_image=[per_image.get((m, s), {})
                                   for m, s in zip(table["model"], table["seed"], strict=True)])
