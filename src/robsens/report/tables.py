"""Per-model metrics files as tables: what every report section reads."""

from __future__ import annotations

import pandas as pd

from robsens.core.io import load_json
from robsens.methods import ModelRole, model_roles
from robsens.pipeline import paths


def load_metrics(kind: str) -> pd.DataFrame:
    """All ``results/metrics/<model>/seed<k>/<kind>.json`` files as one row each."""
    rows = [load_json(p) for p in sorted(paths.METRICS_DIR.glob(f"*/seed*/{kind}.json"))]
    return pd.DataFrame(rows)


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
