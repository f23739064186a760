"""Claims as data: records computed by role (any model names), and the report's two renderings
of them (summary.json and the "Claims at a glance" table) agree."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from robsens.core.io import save_json
from robsens.core.stats import fmt_ci
from robsens.pipeline import paths
from robsens.report import assemble
from robsens.report.claims import VERDICTS, Claim, linear_claims
from robsens.report.tables import with_roles
from robsens.robustness.claims import robustness_claims
from robsens.robustness.report import robustness_section
from robsens.sensitivity import report as sensitivity_report
from robsens.sensitivity.claims import METRICS, fcl_selectivity

from .test_robustness_report import PARAMS, TRUTH, _clean, _robustness, points_of

# a study whose model names say nothing: roles come from the methods alone. The noise models
# are listed against their sigma order, so the curve must be read along sigma.
ODD = {
    "models": {
        "gauss_hi": {"method": "noise_aug", "sigma": 0.6},
        "contrastive": {"method": "fcl"},
        "plain": {"method": "erm"},
        "pgd_ball": {"method": "adv_l2", "eps": 1.0},
        "gauss_lo": {"method": "noise_aug", "sigma": 0.1},
        "contrastive_rnd": {"method": "fcl_random"},
        "pgd_box": {"method": "adv_linf", "eps": 0.1},
    },
}
# model -> (mean corrupted accuracy, clean rare-class accuracy, mean RFS)
ODD_TRUTH = {"gauss_hi": (0.80, 0.50, 0.1), "contrastive": (0.70, 0.85, 0.2),
             "plain": (0.60, 0.90, 0.2), "pgd_ball": (0.62, 0.70, -0.1),
             "gauss_lo": (0.65, 0.80, 0.2), "contrastive_rnd": (0.69, 0.84, 0.2),
             "pgd_box": (0.61, 0.72, 0.5)}


def test_robustness_claims_follow_roles_not_names() -> None:
    one, two, four = robustness_claims(points_of(ODD_TRUTH, ODD))
    assert one.verdict == "supported" and (one.primary, one.reference) == (["gauss_hi"], "plain")
    assert "sigma = 0.6" in one.note
    assert two.verdict == "supported" and two.primary == ["contrastive"]
    assert two.models["noise_curve"] == ["gauss_lo", "gauss_hi"]  # sigma order
    assert two.estimates["noise_curve"]["rare_accuracy"].mean == pytest.approx(0.7)
    # pgd_box's RFS is clearly above the baseline's: claim 4 is refuted, grouped by norm
    assert four.verdict == "refuted" and four.models["adversarial_curve"] == ["pgd_ball", "pgd_box"]
    assert four.checks == {"pgd_ball": {"mean_rfs": "supported"},
                           "pgd_box": {"mean_rfs": "refuted"}}


def test_claims_without_the_roles_they_need_are_inconclusive() -> None:
    only = {"models": {k: ODD["models"][k] for k in ("plain", "contrastive")}}
    truth = {k: ODD_TRUTH[k] for k in only["models"]}
    for claim in robustness_claims(points_of(truth, only)):
        assert claim.verdict == "inconclusive" and claim.note.startswith("Not checked")
    assert "noise_curve" in robustness_claims(points_of(truth, only))[0].note


def sensitivity_summary(values: dict[str, tuple[float, float]], params: dict) -> pd.DataFrame:
    """One row per model: every claim-3 quantity at ``mean`` with half-width ``ci``."""
    rows = [{"model": m, **{q: mean for q in METRICS}, **{f"{q}_ci": ci for q in METRICS}}
            for m, (mean, ci) in values.items()]
    return with_roles(params, pd.DataFrame(rows))


def test_claim_3_compares_fcl_with_its_rivals_by_role() -> None:
    clear = {"plain": (1.0, 0.05), "gauss_lo": (1.1, 0.05), "gauss_hi": (1.0, 0.05),
             "contrastive_rnd": (1.05, 0.05), "contrastive": (1.5, 0.05),
             "pgd_box": (2.0, 0.05), "pgd_ball": (2.0, 0.05)}  # adversarial: no rival
    claim = fcl_selectivity(sensitivity_summary(clear, ODD))
    assert claim.verdict == "supported" and claim.primary == ["contrastive"]
    assert claim.reference == "gauss_lo"  # the strongest rival
    assert claim.models == {"fcl": ["contrastive"], "baseline": ["plain"],
                            "noise_curve": ["gauss_lo", "gauss_hi"],
                            "ablation": ["contrastive_rnd"]}
    wide = fcl_selectivity(sensitivity_summary({**clear, "contrastive": (1.5, 0.5)}, ODD))
    assert wide.verdict == "inconclusive"
    below = fcl_selectivity(sensitivity_summary({**clear, "contrastive_rnd": (1.7, 0.05)}, ODD))
    assert below.verdict == "refuted"
    assert set(below.checks["contrastive"].values()) == {"refuted"}
    alone = {"models": {"contrastive": {"method": "fcl"}}}
    assert fcl_selectivity(sensitivity_summary({"contrastive": (1.5, 0.05)}, alone)).verdict \
        == "inconclusive"


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
    records = {c.id: c for c in linear_claims(tmp_path / "summary.json")}
    assert {k: c.verdict for k, c in records.items()} == {
        "linear_shift_cost_population": "supported", "linear_shift_cost_finite": "refuted",
        "linear_linf_threshold_population": "inconclusive",
        "linear_linf_threshold_finite": "inconclusive"}
    assert records["linear_shift_cost_finite"].number == 5
    assert records["linear_shift_cost_finite"].note == "Spearman -0.1."


SENSITIVITY = {"erm": 1.0, "noise_0.1": 1.1, "noise_0.6": 1.0, "fcl": 1.5, "adv_linf": 2.0,
               "fcl_random": 1.1}
STUDY = {**PARAMS, "sensitivity": {
    "perturbation": "gaussian", "strength": 0.5, "n_probes": 4, "reduce": "sum",
    "corner_perturbation": "mask", "n_probe": 10, "patch": 4, "n_test": 10}}


@pytest.fixture()
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Robustness, clean and sensitivity metrics of two seeds and a linear summary; the
    sensitivity figures (which need the per-image arrays) are skipped."""
    monkeypatch.chdir(tmp_path)
    for model in TRUTH:
        for seed in (0, 1):
            save_json(paths.metrics_path(model, seed, "robustness"), _robustness(model, seed))
            save_json(paths.metrics_path(model, seed, "clean"), _clean(model, seed))
            value = SENSITIVITY[model] + 0.01 * seed
            save_json(paths.metrics_path(model, seed, "sensitivity"), {
                "model": model, "method": PARAMS["models"][model]["method"], "seed": seed,
                **{c: value for c in sensitivity_report.COLUMNS}})
    save_json(paths.LINEAR_SUMMARY, LINEAR)
    monkeypatch.setattr(sensitivity_report, "load_npz", lambda path: {})
    for figure in ("example_maps", "corner_by_context", "utility_vs_sensitivity"):
        monkeypatch.setattr(sensitivity_report, figure, lambda *args: None)
    return tmp_path


def test_sensitivity_section_renders_claim_3_and_refers_to_the_flip_rates(study: Path) -> None:
    text, metrics = sensitivity_report.sensitivity_section(STUDY, study / "figures")
    assert "probe flip rate, centre" not in text and "clean-evaluation table" in text
    [claim] = metrics["claims"]
    assert claim.id == "fcl_selectivity" and claim.verdict == "supported"
    assert "**Claim 3** (`fcl_selectivity`)" in text and "Verdict: **supported**" in text


def _glance_rows(markdown: str) -> dict[str, list[str]]:
    table = markdown.split("## Claims at a glance")[1].split("\n## ")[0]
    rows = [line for line in table.splitlines() if re.match(r"\| \d+ \|", line)]
    cells = [[c.strip() for c in line.strip("| ").split(" | ")] for line in rows]
    return {re.match(r"`(\w+)`", c[1])[1]: c for c in cells}


def test_summary_json_and_the_glance_table_agree(study: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assemble, "SECTIONS",
                        [robustness_section, sensitivity_report.sensitivity_section])
    markdown = assemble.write_report(STUDY).read_text()
    summary = json.loads(paths.REPORT_SUMMARY.read_text())
    assert markdown.index("## Claims at a glance") < markdown.index("## Robustness")
    rows = _glance_rows(markdown)
    ids = {key.split(".")[1] for key in summary if key.startswith("claims.")}
    assert set(rows) == ids == {"noise_tradeoff", "fcl_plane", "fcl_selectivity",
                                "adversarial_rfs", "linear_shift_cost_population",
                                "linear_shift_cost_finite", "linear_linf_threshold_population",
                                "linear_linf_threshold_finite"}
    assert [int(r[0]) for r in rows.values()] == [1, 2, 3, 4, 5, 5, 5, 5]  # science.md order
    for cid, (number, _, verdict, headline, rule) in rows.items():
        record = f"claims.{cid}"
        assert summary[f"{record}.verdict"] in VERDICTS
        assert verdict == f"**{summary[f'{record}.verdict']}**"
        assert int(number) == summary[f"{record}.number"] and rule == summary[f"{record}.rule"]
        metric = summary[f"{record}.metric"]
        subjects = summary.get(f"{record}.primary", []) + [summary[f"{record}.reference"]] * (
            summary[f"{record}.reference"] is not None)
        assert bool(subjects) == (headline != "—")
        for subject in subjects:
            estimate = f"{record}.estimates.{subject}.{metric}"
            mean, ci = summary[f"{estimate}.mean"], summary.get(f"{estimate}.ci", math.nan)
            assert f"{subject} {fmt_ci(mean, ci)}" in headline, (cid, subject, headline)
    assert summary["claims.fcl_selectivity.verdict"] == "supported"
    assert summary["claims.adversarial_rfs.estimates.adv_linf.mean_rfs.mean"] == pytest.approx(-0.1)
