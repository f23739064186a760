"""The sweep scorer's rule on planted per-seed tables: a gate failure at any seed or a clean
accuracy more than the margin below the baseline's excludes a variant; among the rest the
largest oriented estimate wins; a sweep evaluated on the test split is refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest
import yaml

from robsens.core.errors import UserError
from robsens.report import sweep as sweep_mod
from tests.conftest import ROOT

SEEDS = (0, 1, 2)


def planted(selectivity: dict[str, tuple[float, ...]], accuracy: dict[str, float],
            failures: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, gates = [], []
    for model, values in selectivity.items():
        role = "baseline" if model == "erm" else "fcl"
        for seed, value in zip(SEEDS, values, strict=True):
            rows.append({"model": model, "seed": seed, "role": role,
                         "output_selectivity_removal": value,
                         "accuracy": accuracy[model] + 0.001 * seed})
            gates.append({"model": model, "seed": seed, "fcl": 0.5, "fcl_chance": 0.69,
                          "fcl_grad_share": 0.2,
                          "failures": failures.get(model, "") if seed == 1 else ""})
    return pd.DataFrame(rows), pd.DataFrame(gates)


def params(direction: str = "higher") -> dict:
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["claims"]["endpoints"]["fcl_selectivity"]["primary"][0]["direction"] = direction
    return p


TABLE = planted(
    {"erm": (1.0, 1.1, 0.9),
     "best_but_gated": (2.0, 2.1, 1.9),      # largest effect, not engaged at seed 1
     "best_but_inaccurate": (1.8, 1.9, 1.7),  # 2 points below ERM's clean accuracy
     "good": (1.3, 1.45, 1.2),               # +0.32: the chosen one
     "small": (1.05, 1.1, 0.95)},            # +0.03
    {"erm": 0.95, "best_but_gated": 0.95, "best_but_inaccurate": 0.93, "good": 0.945,
     "small": 0.96},
    {"best_but_gated": "not engaged (term 0.69 of chance 0.69)"})


def test_the_rule_picks_the_largest_eligible_effect() -> None:
    scored, endpoint = sweep_mod.score(params(), *TABLE, "fcl_selectivity", margin=0.01)
    by = scored.set_index("model")
    assert endpoint["baseline"] == "erm"
    assert list(scored["model"]) == ["best_but_gated", "best_but_inaccurate", "good", "small"]
    assert by.loc["good", "chosen"] and scored["chosen"].sum() == 1
    assert not by.loc["best_but_gated", "eligible"] and "seed 1: not engaged" in by.loc[
        "best_but_gated", "failed"]
    assert not by.loc["best_but_inaccurate", "eligible"]  # -0.02 < -0.01
    assert by.loc["good", "estimate"] == pytest.approx((0.3 + 0.35 + 0.3) / 3)
    assert by.loc["good", "accuracy_diff"] == pytest.approx(-0.005)
    assert by.loc["good", "low"] < by.loc["good", "estimate"] < by.loc["good", "high"]


def test_a_looser_margin_or_the_other_direction_changes_the_pick() -> None:
    loose, _ = sweep_mod.score(params(), *TABLE, "fcl_selectivity", margin=0.05)
    assert loose.set_index("model").loc["best_but_inaccurate", "chosen"]
    lower, _ = sweep_mod.score(params("lower"), *TABLE, "fcl_selectivity", margin=0.01)
    assert lower.set_index("model").loc["small", "chosen"]  # the smallest rise is best


def test_the_table_names_the_factors_and_whether_the_defaults_follow() -> None:
    p = params()
    p["models"] = {"erm": {"method": "erm"},
                   **{m: {**p["models"]["fcl"], "lam": lam} for m, lam in (
                       ("best_but_gated", 4.0), ("best_but_inaccurate", 8.0),
                       ("good", p["models"]["fcl"]["lam"]), ("small", 1.0))}}
    p["seeds"], p["evaluate"]["split"] = list(SEEDS), "val"
    scored, endpoint = sweep_mod.score(p, *TABLE, "fcl_selectivity", margin=0.01)
    text = sweep_mod.markdown(p, params(), scored, endpoint, "fcl_selectivity", 0.01,
                              Path("runs/x"))
    assert "| variant | `lam` |" in text and "**good** (chosen)" in text
    assert "`models.fcl` matches the chosen variant" in text
    defaults = params()
    defaults["models"]["fcl"]["lam"] = 4.0
    text = sweep_mod.markdown(p, defaults, scored, endpoint, "fcl_selectivity", 0.01,
                              Path("runs/x"))
    assert f"differs from the chosen variant in `lam` (4.0 vs {p['models']['good']['lam']})" \
        in text


def test_a_sweep_on_the_test_split_is_refused(tmp_path: Path) -> None:
    p = params()
    p["run_name"] = "x"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    args = argparse.Namespace(run=tmp_path, claim="fcl_selectivity", accuracy_margin=0.01,
                              out=None)
    with pytest.raises(UserError, match="validation split only"):
        sweep_mod.run(params(), args)
