"""The linear study's MLflow run: its params, verdicts, headline numbers and result files.

The run is found again by its ``robsens.run_key`` (a hash of the ``linear`` params), so
rerunning the same study logs into the same run; results are on disk first, as everywhere.
"""

from __future__ import annotations

from pathlib import Path

from robsens.core.config import content_digest, flatten
from robsens.core.io import load_json
from robsens.core.tracking import (
    RUN_KEY,
    find_run,
    git_commit,
    log_metrics,
    mlflow_run_name,
    open_store,
)
from robsens.linear.study import SUMMARY_JSON, SWEEP_CSV


def study_metrics(summary: dict) -> dict[str, float]:
    """Scalar metrics: verdicts as 1/0 and the headline numbers (infinite reliance dropped)."""
    out = {f"claim.{c['id']}.{source}": float(c[source]["supported"])
           for c in summary["claims"] for source in ("population", "finite")
           if c[source]["supported"] is not None}
    head = summary["headline"]
    for row in head["at_max_eps"]:
        key = f"max_eps.{row['attack']}.ratio_{row['rho_sigma_ratio']:g}"
        out |= {f"{key}.{k}": float(v) for k, v in row.items()
                if k not in ("attack", "rho_sigma_ratio") and v is not None}
    out |= {f"finite_weight_error.n_{n}": e for n, e in head["finite_weight_error"].items()}
    return out | {"fits": summary["fits"]}


def linear_run_key(params: dict) -> str:
    """The study's run key: the same ``linear`` params log into the same run."""
    return f"linear-{content_digest(params['linear'])}"


def log_linear_study(params: dict, results_dir: Path, runtime_s: float) -> None:
    from mlflow.entities import Param, RunTag

    client, exp_id = open_store(params)
    run_key = linear_run_key(params)
    run = find_run(client, exp_id, run_key)
    run_id = run.info.run_id if run else client.create_run(
        exp_id, run_name=mlflow_run_name(params, "linear-study"),
        tags={RUN_KEY: run_key, "stage": "linear"}).info.run_id
    summary = load_json(Path(results_dir) / SUMMARY_JSON)
    log_metrics(client, run_id, study_metrics(summary) | {"runtime_s": runtime_s})
    client.log_batch(
        run_id,
        params=[] if run else [Param(k, str(v)) for k, v in flatten(params["linear"]).items()],
        tags=[RunTag("mlflow.source.git.commit", git_commit())],
    )
    for name in (SUMMARY_JSON, SWEEP_CSV):
        client.log_artifact(run_id, str(Path(results_dir) / name))
    client.set_terminated(run_id)
