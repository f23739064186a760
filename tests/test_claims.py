"""Claims decided from declared endpoints: paired per-seed comparisons by role (any model
names), planted effects found, null effects left inconclusive, and the report's two
renderings of the records (summary.json and the "Claims at a glance" table) agree."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from robsens.core.config import ParamsError, validate_params
from robsens.core.io import save_json
from robsens.core.stats import mean_ci
from robsens.pipeline import paths
from robsens.report import assemble
from robsens.report.claims import VERDICTS, Claim, decide_claim, decide_claims, linear_claims
from robsens.report.tables import per_seed_table, with_roles
from robsens.robustness.claims import OVER_CURVE, over_noise_curve

from .conftest import ROOT

DEFAULTS = yaml.safe_load((ROOT / "params.yaml").read_text())
# a study whose model names say nothing: roles come from the methods alone. The noise models
# are listed against their sigma order, so the curve must be read along sigma.
ODD = {
    "gauss_hi": {"method": "noise_aug", "sigma": 0.6},
    "contrastive": {"method": "fcl"},
    "plain": {"method": "erm"},
    "pgd_box": {"method": "adv_linf", "eps": 0.1},
    "gauss_lo": {"method": "noise_aug", "sigma": 0.1},
    "contrastive_rnd": {"method": "fcl_random"},
}
# model -> planted means of (mean corrupted accuracy, clean rare-class accuracy, mean RFS of
# the spurious-background study, output-level context selectivity, its cue reliance): noise
# trades rare accuracy for robustness, FCL sits above the noise curve and is the most
# selective, the l_inf model has a *higher* RFS than the baseline (and a higher cue reliance).
PLANTED = {"plain": (0.60, 0.90, 0.20, 1.00, 0.10),
           "gauss_lo": (0.65, 0.80, 0.20, 1.02, 0.10),
           "gauss_hi": (0.80, 0.50, 0.10, 1.00, 0.10),
           "contrastive": (0.70, 0.85, 0.20, 1.50, 0.10),
           "contrastive_rnd": (0.66, 0.84, 0.20, 1.05, 0.10),
           "pgd_box": (0.61, 0.72, 0.40, 1.10, 0.30)}
METRICS = ("mean_corrupted_accuracy", "rare_accuracy", "spurious_mean_rfs",
           "output_selectivity_removal", "spurious_cue_reliance")


def params_for(models: dict, seeds: int) -> dict:
    params = copy.deepcopy(DEFAULTS)
    params.update(models=models, seeds=list(range(seeds)))
    params["spurious"]["models"] = list(models)  # every model in both image studies
    return params


def per_seed(params: dict, planted: dict, sd: float, seed: int = 0) -> pd.DataFrame:
    """One row per model x seed: planted mean + a seed effect shared by every model (what
    pairing removes) + a small model-specific noise of std ``sd``."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 0.05, size=(len(params["seeds"]), len(METRICS)))
    rows = [{"model": m, "seed": s, **{k: v + shared[s, i] + rng.normal(0, sd)
                                        for i, (k, v) in enumerate(zip(METRICS, planted[m],
                                                                       strict=True))}}
            for m in planted for s in params["seeds"]]
    table = with_roles(params, pd.DataFrame(rows))
    return table.assign(**{OVER_CURVE: over_noise_curve(table)})


def by_id(claims: list[Claim]) -> dict[str, Claim]:
    return {c.id: c for c in claims}


@pytest.fixture()
def linear_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    save_json(paths.LINEAR_SUMMARY, LINEAR)
    return tmp_path


def test_planted_effects_are_found_by_role_and_pairing(linear_summary: Path) -> None:
    params = params_for(ODD, seeds=6)
    claims = by_id(decide_claims(params, per_seed(params, PLANTED, sd=0.005)))
    one, two, three, four = (claims[k] for k in ("noise_tradeoff", "fcl_plane",
                                                 "fcl_selectivity", "adversarial_rfs"))
    assert one.verdict == "supported" and [(c.subject, c.reference) for c in one.comparisons] \
        == [("gauss_hi", "plain")] * 2  # the model furthest along sigma, not the last listed
    assert two.verdict == "supported"  # the curve at x = 0.70 is at y = 0.70 < 0.85
    assert two.comparisons[0].interval.estimate == pytest.approx(0.15, abs=0.02)
    assert three.verdict == "supported"
    assert {c.reference for c in three.comparisons} == {"plain", "gauss_lo", "gauss_hi",
                                                        "contrastive_rnd"}
    assert all(c.interval.level == pytest.approx(1 - 0.05 / (4 - k)) for k, c in enumerate(
        sorted(three.comparisons, key=lambda c: c.interval.p_value)))  # Holm levels
    assert four.verdict == "refuted" and four.primary.subject == "pgd_box"


def test_effects_hidden_by_the_seed_spread_need_pairing() -> None:
    """A seed effect shared by both models (std 0.05) swamps a 0.06 difference when means are
    compared unpaired; the paired comparison of the same numbers decides it."""
    params = params_for(ODD, seeds=5)
    planted = {**PLANTED, "contrastive": (*PLANTED["contrastive"][:3], 1.11,
                                          PLANTED["contrastive"][4])}
    table = per_seed(params, planted, sd=0.003, seed=0)
    fcl, rnd = (table.loc[table["model"] == m, "output_selectivity_removal"]
                for m in ("contrastive", "contrastive_rnd"))
    (m1, h1), (m2, h2) = mean_ci(fcl, 0.95), mean_ci(rnd, 0.95)
    assert m1 - h1 < m2 + h2  # unpaired t-intervals overlap
    spec = {"number": 3, "statement": "s", "primary": [
        {"metric": "output_selectivity_removal", "subject": "fcl", "reference": "ablation",
         "direction": "higher", "min_effect": 0.02}]}
    claim = decide_claim("selectivity", spec, table, params["claims"])
    assert claim.verdict == "supported"


def test_a_null_effect_is_inconclusive_with_the_seeds_it_needs(linear_summary: Path) -> None:
    params = params_for(ODD, seeds=5)
    null = {**PLANTED, "pgd_box": PLANTED["plain"]}  # no RFS difference at all
    four = by_id(decide_claims(params, per_seed(params, null, sd=0.02)))["adversarial_rfs"]
    assert four.verdict == "inconclusive"
    assert four.seeds_needed is not None and four.seeds_needed > 5
    assert f"about {four.seeds_needed} seeds" in four.note


def test_bootstrap_intervals_decide_like_t_on_clear_effects(linear_summary: Path) -> None:
    params = params_for(ODD, seeds=8)
    params["claims"]["interval"] = "bootstrap"
    claims = by_id(decide_claims(params, per_seed(params, PLANTED, sd=0.005)))
    assert claims["noise_tradeoff"].comparisons[0].interval.method == "bootstrap"
    assert [claims[k].verdict for k in ("noise_tradeoff", "fcl_selectivity",
                                        "adversarial_rfs")] == ["supported", "supported",
                                                                "refuted"]


def test_claims_without_the_roles_they_need_are_inconclusive(linear_summary: Path) -> None:
    only = {m: ODD[m] for m in ("plain", "contrastive")}
    params = params_for(only, seeds=3)
    claims = by_id(decide_claims(params, per_seed(params, {m: PLANTED[m] for m in only},
                                                  sd=0.01)))
    for cid in ("noise_tradeoff", "fcl_plane", "fcl_selectivity", "adversarial_rfs"):
        assert claims[cid].verdict == "inconclusive"
    assert claims["noise_tradeoff"].note.startswith("Not checked: no model with role "
                                                    "noise_curve")


def test_the_noise_curve_is_read_per_seed_through_the_baseline() -> None:
    params = params_for(ODD, seeds=1)
    rows = {"plain": (0.6, 0.9), "gauss_lo": (0.7, 0.7), "gauss_hi": (0.8, 0.5),
            "contrastive": (0.65, 0.85), "contrastive_rnd": (0.9, 0.9), "pgd_box": (0.6, 0.8)}
    table = with_roles(params, pd.DataFrame([
        {"model": m, "seed": 0, "mean_corrupted_accuracy": x, "rare_accuracy": y}
        for m, (x, y) in rows.items()]))
    over = dict(zip(table["model"], over_noise_curve(table), strict=True))
    assert over["contrastive"] == pytest.approx(0.85 - 0.8)  # halfway between plain and lo
    assert over["plain"] == pytest.approx(0.0)
    assert np.isnan(over["contrastive_rnd"])  # the curve never reaches 0.9


def test_claims_params_name_known_roles() -> None:
    params = copy.deepcopy(DEFAULTS)
    params["claims"]["endpoints"]["fcl_plane"]["primary"][0]["subject"] = "fcll"
    with pytest.raises(ParamsError, match=r"claims\.endpoints\.fcl_plane\.primary\.0\.subject"):
        validate_params(params)
    del params["claims"]["endpoints"]["fcl_plane"]["primary"]
    with pytest.raises(ParamsError, match="give `primary`"):
        validate_params(params)


def test_claim_records_check_their_verdict() -> None:
    with pytest.raises(ValueError, match="verdict"):
        Claim("x", 1, "statement", "rule", verdict="holds")


LINEAR = {"claims": [
    {"id": "shift_cost", "statement": "Shifts cost more with more spurious weight.",
     "population": {"supported": True, "evidence": "Spearman 0.9"},
     "finite": {"supported": False, "evidence": "Spearman -0.1"}},
    {"id": "linf_threshold", "statement": "l_inf keeps w_s = 0 below the threshold.",
     "population": {"supported": None, "evidence": "not swept: linf"},
     "finite": {"supported": None, "evidence": "not swept: linf"}},
]}


def test_linear_verdicts_become_records(tmp_path: Path) -> None:
    save_json(tmp_path / "summary.json", LINEAR)
    records = {c.id: c for c in linear_claims(5, tmp_path / "summary.json")}
    assert {k: c.verdict for k, c in records.items()} == {
        "linear_shift_cost_population": "supported", "linear_shift_cost_finite": "refuted",
        "linear_linf_threshold_population": "inconclusive",
        "linear_linf_threshold_finite": "inconclusive"}
    assert records["linear_shift_cost_finite"].number == 5
    assert records["linear_shift_cost_finite"].note == "Spearman -0.1."


def _glance_rows(markdown: str) -> dict[str, list[str]]:
    table = markdown.split("## Claims at a glance")[1].split("\n## ")[0]
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    cells = [[c.strip() for c in line.strip("| ").split(" | ")] for line in rows]
    return {re.match(r"`(\w+)`", c[1])[1]: c for c in cells}


def test_summary_json_and_the_glance_table_agree(linear_summary: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    params = params_for(ODD, seeds=4)
    table = per_seed(params, PLANTED, sd=0.01)
    for row in table.itertuples():  # the metrics files the report reads
        values = {k: getattr(row, k) for k in METRICS}
        for study, kind, keys in (
                (paths.CORNER, "clean", ["rare_accuracy"]),
                (paths.CORNER, "robustness", ["mean_corrupted_accuracy"]),
                (paths.CORNER, "sensitivity", ["output_selectivity_removal"]),
                (paths.SPURIOUS, "spurious", ["spurious_mean_rfs", "spurious_cue_reliance"])):
            save_json(study.metrics_path(row.model, row.seed, kind),
                      {"model": row.model, "seed": row.seed, **{k: values[k] for k in keys}})
    read = per_seed_table(params).sort_values(["model", "seed"])
    assert read[list(METRICS)].to_numpy() == pytest.approx(
        table.sort_values(["model", "seed"])[list(METRICS)].to_numpy())
    monkeypatch.setattr(assemble, "SECTIONS", [])
    markdown = assemble.write_report(params).read_text()
    summary = json.loads(paths.REPORT_SUMMARY.read_text())
    rows = _glance_rows(markdown)
    ids = {key.split(".")[1] for key in summary if key.startswith("claims.")}
    assert set(rows) == ids
    assert [int(r[0]) for r in rows.values()] == sorted(int(r[0]) for r in rows.values())
    for cid, (number, _, verdict, headline, seeds) in rows.items():
        record = f"claims.{cid}"
        assert verdict == f"**{summary[f'{record}.verdict']}**"
        assert summary[f"{record}.verdict"] in VERDICTS
        assert int(number) == summary[f"{record}.number"]
        if f"{record}.primary.estimate" in summary:
            estimate = summary[f"{record}.primary.estimate"]
            low, high = summary[f"{record}.primary.low"], summary[f"{record}.primary.high"]
            assert f"{estimate:+.3f} [{low:+.3f}, {high:+.3f}]" in headline
            assert f"`{summary[f'{record}.primary.metric']}`" in headline
        else:
            assert headline == "—"
        needed = summary.get(f"{record}.seeds_needed")
        assert seeds == (str(needed) if needed else "—" if "inconclusive" not in verdict
                         else "not reachable")
    assert summary["claims.adversarial_rfs.verdict"] == "refuted"
    assert markdown.index("## Claims at a glance") < markdown.index("## Claims in detail")


def test_per_image_outcomes_pair_images_within_each_seed() -> None:
    """Two seeds cannot decide a 2-point accuracy gap; 2 x 3000 paired images can. The other
    unit is reported beside the voting one."""
    params = params_for({m: ODD[m] for m in ("plain", "gauss_hi")}, seeds=2)
    rng = np.random.default_rng(0)
    rows = []
    for seed in (0, 1):
        base = rng.random(3000) < 0.70
        better = base | (rng.random(3000) < 0.07)  # the noise model fixes ~2 points
        for model, correct in (("plain", base), ("gauss_hi", better)):
            rows.append({"model": model, "seed": seed, "accuracy": correct.mean(),
                         "per_image": {"accuracy": correct.astype(int).tolist()}})
    table = with_roles(params, pd.DataFrame(rows))
    spec = {"number": 1, "statement": "s", "primary": [
        {"metric": "accuracy", "subject": "noise_curve", "reference": "baseline",
         "direction": "higher", "min_effect": 0.01}]}
    by_seeds = decide_claim("c", spec, table, params["claims"])
    spec["primary"][0]["unit"] = "images"
    by_images = decide_claim("c", spec, table, params["claims"])
    assert by_seeds.comparisons[0].interval.method == "t"
    assert by_seeds.comparisons[0].other.method == "per_image"
    assert by_images.comparisons[0].interval.method == "per_image"
    assert by_images.verdict == "supported"
    assert by_images.comparisons[0].interval.estimate == pytest.approx(
        by_seeds.comparisons[0].interval.estimate)
    spec["primary"][0]["metric"] = "mean_rfs"
    lacking = decide_claim("c", spec, table.assign(mean_rfs=0.1), params["claims"])
    assert lacking.verdict == "inconclusive" and "no per-image outcomes" in lacking.note


def test_an_undefined_endpoint_says_why(linear_summary: Path) -> None:
    """FCL more robust than every point of the noise curve: claim 2's endpoint is undefined
    for every seed, and the note says so instead of a bare n/a."""
    params = params_for(ODD, seeds=3)
    beyond = {**PLANTED, "contrastive": (0.95, 0.85, 0.20, 1.50, 0.10)}
    two = by_id(decide_claims(params, per_seed(params, beyond, sd=0.005)))["fcl_plane"]
    assert two.verdict == "inconclusive"
    assert "defined for 0 of 3 seeds" in two.note and "never reaches" in two.note


def test_pick_last_takes_the_strongest_radius_of_each_norm() -> None:
    """Two adversarial curves (l_inf and l_2, listed out of order): `pick: last` compares the
    largest radius of each norm with the baseline, never the l_2 radius against l_inf's."""
    models = {"plain": {"method": "erm"},
              "box_big": {"method": "adv_linf", "eps": 0.3},
              "ball_small": {"method": "adv_l2", "eps": 0.5},
              "box_small": {"method": "adv_linf", "eps": 0.05},
              "ball_big": {"method": "adv_l2", "eps": 2.0}}
    params = params_for(models, seeds=5)
    planted = {"plain": (0.6, 0.9, 0.20, 1.0, 0.1), "box_small": (0.6, 0.9, 0.18, 1.0, 0.1),
               "box_big": (0.6, 0.9, 0.05, 1.0, 0.1), "ball_small": (0.6, 0.9, 0.19, 1.0, 0.1),
               "ball_big": (0.6, 0.9, 0.08, 1.0, 0.1)}
    spec = {"number": 4, "statement": "s", "primary": [
        {"metric": "spurious_mean_rfs", "subject": "adversarial_curve", "pick": "last",
         "reference": "baseline", "direction": "lower", "min_effect": 0.02}]}
    claim = decide_claim("rfs", spec, per_seed(params, planted, sd=0.003), params["claims"])
    assert sorted(c.subject for c in claim.comparisons) == ["ball_big", "box_big"]
    assert claim.verdict == "supported"
    spec["primary"][0]["pick"] = "first"
    first = decide_claim("rfs", spec, per_seed(params, planted, sd=0.003), params["claims"])
    assert sorted(c.subject for c in first.comparisons) == ["ball_small", "box_small"]
