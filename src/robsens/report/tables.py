"""Per-model metrics files as tables: the toolkit every report section reads.

Below the stage families (each family's report section imports it); the per-seed table the
claims are decided on, which joins every family's results, is :mod:`robsens.report.per_seed`.
"""

from __future__ import annotations

import pandas as pd

from robsens.core.config import model_names
from robsens.core.io import load_json
from robsens.methods import ModelRole, model_roles
from robsens.pipeline import paths


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
