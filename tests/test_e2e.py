"""The whole tiny DAG through the real tools: Snakemake + an MLflow server, and DVC."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from robsens.core.tracking import experiment_name
from robsens.pipeline.runs import run_params

from .conftest import ROOT, keep_models, make_project, project_env, rest, run, tiny_params

pytestmark = pytest.mark.e2e  # starts projects, servers or subprocesses

SMOKE = ["--configfile", "configs/smoke.yaml"]  # the overlay: one model per role, one seed


def smoke_params() -> dict:
    return {**tiny_params(), "run_name": "smoke"}


@pytest.fixture(scope="module")
def snakemake_project(tmp_path_factory, mlflow_server: str, warm_dir: Path
                      ) -> tuple[Path, dict, float]:
    """The smoke overlay on the project's unchanged params.yaml, through Snakemake: every job
    must read the overlay's config (runs/smoke/params.yaml) and write under runs/smoke/."""
    project = make_project(tmp_path_factory.mktemp("smk"),
                           yaml.safe_load((ROOT / "params.yaml").read_text()))
    env = project_env(project, warm_dir) | {"MLFLOW_TRACKING_URI": mlflow_server}
    tic = time.perf_counter()
    run(["snakemake", "--cores", "2", *SMOKE], project, env)
    return project, env, time.perf_counter() - tic


def test_the_overlay_reached_every_job_and_left_the_default_study_alone(snakemake_project
                                                                        ) -> None:
    project, _, _ = snakemake_project
    root = project / "runs/smoke"
    written = yaml.safe_load((root / "params.yaml").read_text())
    assert written == run_params(smoke_params(), Path("runs/smoke"))  # paths re-rooted
    manifest = json.loads((root / "data/corner/manifest.json").read_text())
    assert manifest["splits"]["train"]["n"] == smoke_params()["data"]["n_train"]
    trained = {p.parts[-3] for p in (root / "results/models").glob("*/seed0/model.pt")}
    assert trained == set(smoke_params()["corner"]["models"])
    assert not (project / "results").exists() and not (project / "reports").exists()


def job_counts(dry_run_stdout: str) -> dict[str, int]:
    table = dry_run_stdout.split("Job stats:")[1].split("total")[0]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_snakemake_writes_report_and_figures(snakemake_project) -> None:
    project, _, seconds = snakemake_project
    print(f"smoke DAG through Snakemake: {seconds:.0f} s")
    project = project / "runs/smoke"
    report = (project / "reports/results.md").read_text()
    for model in smoke_params()["corner"]["models"]:
        assert re.search(rf"^\| {model} \|", report, re.M), model
    figures = list((project / "reports/figures").glob("*.png"))
    assert len(figures) >= 2 and all(f.stat().st_size > 5000 for f in figures)
    summary = json.loads((project / "reports/summary.json").read_text())
    assert 0 < summary["clean.erm.accuracy"] <= 1
    for claim in ("noise_tradeoff", "fcl_plane", "fcl_selectivity", "adversarial_rfs"):
        assert summary[f"claims.{claim}.verdict"] in ("supported", "refuted", "inconclusive")
        assert "no model with role" not in summary.get(f"claims.{claim}.note", ""), claim
        assert "Not checked" not in summary.get(f"claims.{claim}.note", ""), claim


def test_the_spurious_study_is_trained_evaluated_and_reported(snakemake_project) -> None:
    project, _, _ = snakemake_project
    root, params = project / "runs/smoke", smoke_params()
    assert params["spurious"]["models"] == ["erm", "adv_linf", "cue_control"]
    manifest = json.loads((root / "data/spurious/manifest.json").read_text())
    assert manifest["splits"]["test_reversed"]["cue_agreement"] == 0
    for model in params["spurious"]["models"]:
        metrics = json.loads(
            (root / f"results/spurious/metrics/{model}/seed0/spurious.json").read_text())
        assert metrics["spurious_cue_reliance"] == pytest.approx(
            metrics["spurious_accuracy"] - metrics["spurious_accuracy_reversed"])
        assert set(metrics["spurious_rfs"]) == {"equal_energy", "per_pixel"}
        curve = json.loads(
            (root / f"results/spurious/metrics/{model}/seed0/rfs_curve.json").read_text())
        assert len(curve) == 2 * len(params["spurious"]["rfs"]["sigmas"])
    report = (root / "reports/results.md").read_text()
    section = report.split("## Spurious-background study")[1].split("\n## ")[0]
    for model in params["spurious"]["models"]:
        assert re.search(rf"^\| {model} \|", section, re.M), model
    for figure in ("spurious_examples", "spurious_accuracy_rfs", "spurious_along_eps"):
        assert (root / f"reports/figures/{figure}.png").stat().st_size > 5000
    summary = json.loads((root / "reports/summary.json").read_text())
    assert 0 <= summary["spurious.erm.spurious_accuracy"] <= 1
    assert summary["claims.adversarial_rfs.primary.metric"] in ("spurious_mean_rfs",
                                                                "spurious_cue_reliance")


def test_the_contrast_sweep_trains_each_model_at_each_contrast(snakemake_project) -> None:
    project, _, _ = snakemake_project
    root, sweep = project / "runs/smoke", smoke_params()["spurious"]["contrast_sweep"]
    for model in sweep["models"]:
        record = json.loads(
            (root / f"results/spurious/metrics/{model}/seed0/contrast.json").read_text())
        assert [r["contrast"] for r in record["contrasts"]] == sweep["contrasts"]
        for r in record["contrasts"]:
            assert r["spurious_cue_reliance"] == pytest.approx(
                r["spurious_accuracy"] - r["spurious_accuracy_reversed"])
            assert r["convergence"]["epochs_run"] >= 1
        for contrast in sweep["contrasts"]:  # each contrast's own data, its cue that strong
            manifest = json.loads(
                (root / f"results/checkpoints/spurious_contrast/data/c{contrast:g}/manifest.json"
                 ).read_text())
            assert manifest["spurious_params"]["contrast"] == contrast
    section = (root / "reports/results.md").read_text().split(
        "## Cue reliance along the cue's contrast")[1].split("\n## ")[0]
    assert re.search(r"^`adv_linf` − baseline cue reliance is .* at contrast 0\.3, .* at 1: "
                     r"the image study ", section, re.M)
    assert (root / "reports/figures/spurious_along_contrast.png").stat().st_size > 5000
    # the same section as a document for the docs, its figure beside it
    out = project / "docs/contrast-smoke.md"
    run(["python", "-m", "robsens", "section", "contrast", "runs/smoke", "--out", str(out)],
        project)
    text = out.read_text()
    assert text.startswith("<!-- generated by `python -m robsens section contrast runs/smoke")
    assert section.strip() in text.replace("contrast-smoke-figures/", "figures/")
    assert (project / "docs/contrast-smoke-figures/spurious_along_contrast.png").is_file()


def test_runs_are_listed_by_the_mlflow_rest_api(snakemake_project, mlflow_server: str) -> None:
    params = smoke_params()
    # a named run logs into its own experiment, never into the default study's
    assert experiment_name(params) == f"{params['mlflow']['experiment']}-smoke"
    exp = rest(mlflow_server, "experiments/get-by-name",
               query=f"experiment_name={experiment_name(params)}")["experiment"]
    runs = rest(mlflow_server, "runs/search", {"experiment_ids": [exp["experiment_id"]],
                                              "max_results": 1000})["runs"]
    tags_of = lambda r: {t["key"]: t["value"] for t in r["data"]["tags"]}  # noqa: E731
    assert {tags_of(r).get("run") for r in runs if "study" in tags_of(r)} == {"smoke"}
    # and the run name leads every run's name: apart also where the UI shows several
    # experiments' runs in one table (Compare)
    assert all(r["info"]["run_name"].startswith("smoke/") for r in runs)
    training = [r for r in runs if tags_of(r).get("study") == "corner"]
    spurious = [r for r in runs if tags_of(r).get("study") == "spurious"]
    assert len(training) == len(params["corner"]["models"]) * len(params["seeds"])
    assert len(spurious) == len(params["spurious"]["models"]) * len(params["seeds"])
    assert sorted(tags_of(r).get("stage") for r in runs
                  if r not in training + spurious) == ["linear", "pipeline"]
    for r in spurious:  # the same training run, with the spurious evaluation logged
        assert r["info"]["run_name"].startswith("smoke/spurious-")
        metrics = {m["key"] for m in r["data"]["metrics"]}
        assert {"spurious.spurious_accuracy", "spurious.spurious_mean_rfs",
                "val_accuracy"} <= metrics
        files = rest(mlflow_server, "artifacts/list", query=f"run_id={r['info']['run_id']}")
        assert {"history.json", "spurious.json"} <= {f["path"] for f in files["files"]}
    for r in training:
        tags = tags_of(r)
        assert {"method", "seed", "data_source", "git_commit", "model"} <= tags.keys()
        metrics = {m["key"] for m in r["data"]["metrics"]}
        assert {"clean.accuracy", "clean.rare_accuracy", "val_accuracy"} <= metrics
        params_logged = {p["key"] for p in r["data"]["params"]}
        assert {"train.lr", "hparams.method", "data.source"} <= params_logged
        history = rest(mlflow_server, "metrics/get-history",
                       query=f"run_id={r['info']['run_id']}&metric_key=val_accuracy")["metrics"]
        steps = list(range(1, params["train"]["max_epochs"] + 1))
        assert sorted(m["step"] for m in history) == steps
        files = rest(mlflow_server, "artifacts/list", query=f"run_id={r['info']['run_id']}")
        assert {"history.json", "clean.json"} <= {f["path"] for f in files["files"]}


def test_second_snakemake_run_does_nothing(snakemake_project) -> None:
    project, env, _ = snakemake_project
    tic = time.perf_counter()
    out = run(["snakemake", "--cores", "2", *SMOKE], project, env)
    assert "Nothing to be done" in out.stdout + out.stderr
    assert time.perf_counter() - tic < 30


def test_training_param_change_reruns_training_and_downstream_only(snakemake_project) -> None:
    project, env, _ = snakemake_project
    lr = smoke_params()["train"]["lr"] / 2
    jobs = job_counts(run(["snakemake", "-n", "--cores", "2", *SMOKE, "--config",
                           f"train={{max_epochs: 2, batch_size: 64, lr: {lr}}}"],
                          project, env).stdout)
    params = smoke_params()
    n_runs = len(params["corner"]["models"]) * len(params["seeds"])
    assert jobs["train"] == n_runs and jobs["evaluate"] == n_runs and jobs["report"] == 1
    assert "synthesize" not in jobs


def test_dvc_repro_end_to_end(tmp_path: Path, warm_dir: Path) -> None:
    """Every stage through `dvc repro`; one model keeps DVC's serial runs short."""
    params = tiny_params()
    keep_models(params, ("erm",))
    project = make_project(tmp_path / "dvc", params)
    env = project_env(project, warm_dir)
    first = run(["dvc", "repro"], project, env)
    assert (project / "dvc.lock").is_file() and (project / "reports/results.md").is_file()
    assert "Running stage 'synthesize'" in first.stdout
    again = run(["dvc", "repro"], project, env)
    assert "Running stage" not in again.stdout, again.stdout
    # switching tools costs nothing: Snakemake accepts what DVC built
    dry = run(["snakemake", "-n", "--cores", "2"], project, env)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout
    # a DVC experiment, in place: only what reads the changed param reruns, and its MLflow
    # runs land in the project's store
    (project / ".gitignore").write_text("/.snakemake/\n/mlflow.db\n/logs/\n/benchmarks/\n")
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-q", "-m", "baseline"], project, env)
    rerun = run(["dvc", "exp", "run", "-S", "robustness.rfs_sigmas=[0.5]"], project, env).stdout
    ran = set(re.findall(r"Running stage '([^']+)'", rerun))
    # what reads robustness params, after the fingerprints (params.yaml changed)
    assert ran == {"fingerprints", "robustness@erm-0", "report"}, ran
    assert yaml.safe_load((project / "params.yaml").read_text())["robustness"]["rfs_sigmas"] \
        == [0.5]
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project, env).stdout)
    assert "rfs_sigmas" in json.dumps(shown)  # the experiment is recorded with its param
