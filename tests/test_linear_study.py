"""The linear branch end to end on a tiny grid: tables, verdicts, figures, report, MLflow."""

import copy

import pandas as pd
import pytest

from robsens.core.config import ParamsError
from robsens.core.io import load_json
from robsens.linear.figures import FIGURES
from robsens.linear.report import linear_section
from robsens.linear.study import run_linear_study
from robsens.linear.sweep import finite_sample_sweep
from robsens.linear.tracking import log_linear_study, study_metrics

TINY = {
    "model": {"dim_core": 3, "dim_spurious": 3, "sigma_core": 1.0, "rho": 0.8, "noise_std": 0.1},
    "sweep": {"attacks": ["l1", "l2", "linf"], "eps_rel": {"max": 0.6, "num": 4},
              "sigma_ratio": [0.5, 1.0, 2.0],
              "test_rho_factor": {"same": 1.0, "zero": 0.0, "flipped": -1.0}},
    "finite_sample": {"n_train": [100, 400], "seeds": [0, 1], "sigma_ratio": [0.5, 2.0]},
    "solver": {"tol": 1e-12, "max_iter": 1000},
    "verdict": {"zero_tol": 1e-8},
}
CLAIM_IDS = ["spurious_for_every_eps", "linf_threshold", "shift_cost", "spurious_lowers_adv_risk"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("linear")
    run_linear_study(copy.deepcopy(TINY), out)
    return out


def test_sweep_table_is_tidy_and_complete(results):
    df = pd.read_csv(results / "sweep.csv")
    pop = df[df["source"] == "population"]
    fin = df[df["source"] == "finite"]
    assert len(pop) == 3 * 4 * 3 * 3  # attacks x eps x ratios x test shifts
    assert len(fin) == 2 * 2 * 3 * 2 * 4 * 3  # n x seeds x attacks x ratios x eps x shifts
    assert set(df["test_shift"]) == {"same", "zero", "flipped"}
    assert df["converged"].all()


def test_summary_has_a_verdict_per_claim(results):
    summary = load_json(results / "summary.json")
    assert [c["id"] for c in summary["claims"]] == CLAIM_IDS
    for claim in summary["claims"]:
        for source in ("population", "finite"):
            assert isinstance(claim[source]["supported"], bool)
            assert claim[source]["evidence"]
    assert summary["claims"][1]["population"]["supported"]


def test_report_section_and_figures(results, tmp_path):
    text, metrics = linear_section({}, tmp_path, results)
    assert text.startswith("## Linear study")
    for name in FIGURES:
        assert f"figures/{name}" in text
        assert (tmp_path / name).stat().st_size > 10_000
    assert set(metrics["linear"]["supported"]) == set(CLAIM_IDS)


def test_mlflow_run_is_found_again(results, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    params = {"linear": TINY, "mlflow": {"experiment": "linear-test",
                                         "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}}
    log_linear_study(params, results, runtime_s=1.0)
    log_linear_study(params, results, runtime_s=1.0)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=params["mlflow"]["tracking_uri"])
    runs = client.search_runs([client.get_experiment_by_name("linear-test").experiment_id])
    assert len(runs) == 1
    expected = study_metrics(load_json(results / "summary.json")) | {"runtime_s": 1.0}
    assert runs[0].data.metrics == pytest.approx(expected)


def test_unswept_attack_leaves_its_claim_unchecked(tmp_path):
    cfg = copy.deepcopy(TINY)
    cfg["sweep"]["attacks"] = ["l2"]
    cfg["finite_sample"].update(n_train=[60], seeds=[0])
    run_linear_study(cfg, tmp_path)
    claims = {c["id"]: c for c in load_json(tmp_path / "summary.json")["claims"]}
    assert claims["linf_threshold"]["population"]["supported"] is None
    assert claims["spurious_for_every_eps"]["population"]["supported"] is None
    text, metrics = linear_section({}, tmp_path / "figures", tmp_path)
    assert "not checked" in text
    assert "linf_threshold" not in metrics["linear"]["supported"]


def test_finite_ratios_must_be_swept(tmp_path):
    cfg = copy.deepcopy(TINY)
    cfg["finite_sample"]["sigma_ratio"] = [0.7]
    with pytest.raises(ParamsError, match="subset"):
        run_linear_study(cfg, tmp_path)


def test_finite_sample_sweep_is_deterministic():
    cfg = copy.deepcopy(TINY)
    cfg["finite_sample"] = {"n_train": [50], "seeds": [3], "sigma_ratio": [2.0]}
    pd.testing.assert_frame_equal(finite_sample_sweep(cfg), finite_sample_sweep(cfg))
