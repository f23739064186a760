"""Entry point of the linear branch: sweep, verdicts and headline numbers, written atomically."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from robsens.core.config import ParamsError
from robsens.core.io import atomic_path, save_json
from robsens.linear.claims import claim_verdicts
from robsens.linear.sweep import finite_sample_sweep, population_sweep
from robsens.pipeline import paths

SWEEP_CSV = paths.LINEAR_SWEEP.name
SUMMARY_JSON = paths.LINEAR_SUMMARY.name


def _json_float(value: float) -> float | None:
    """Reliance is infinite once w_c = 0; JSON has no infinity, so that becomes null."""
    return float(value) if math.isfinite(value) else None


def headline(df: pd.DataFrame) -> dict:
    """At the largest eps, each finite-sample ratio: population vs finite (largest n), and
    how far finite-sample weights sit from the population optimum for each n."""
    same = df[df["test_shift"] == "same"]
    flipped = df[df["test_shift"] == "flipped"]  # row i is the fit of row i of ``same``
    cost = flipped["test_mse"].to_numpy() - same["test_mse"].to_numpy()
    same = same.assign(flip_cost=cost)
    fin = same[same["source"] == "finite"]
    keys = ["attack", "rho_sigma_ratio", "eps_rel"]
    pop = same[same["source"] == "population"].set_index(keys)
    fin_mean = fin.groupby(["n_train", *keys])[["w_core_norm", "w_spur_norm", "reliance",
                                                "flip_cost"]].mean()
    gap = (fin_mean[["w_core_norm", "w_spur_norm"]]
           - pop[["w_core_norm", "w_spur_norm"]].reindex(fin_mean.index.droplevel(0)).to_numpy())
    top = fin_mean.xs((fin["n_train"].max(), fin["eps_rel"].max()), level=["n_train", "eps_rel"])
    top_pop = pop.xs(fin["eps_rel"].max(), level="eps_rel").reindex(top.index)
    return {
        "eps_rel": float(fin["eps_rel"].max()),
        "n_train": int(fin["n_train"].max()),
        "at_max_eps": [
            {"attack": a, "rho_sigma_ratio": float(x),
             "reliance_population": _json_float(top_pop.loc[(a, x), "reliance"]),
             "reliance_finite": _json_float(top.loc[(a, x), "reliance"]),
             "flip_cost_population": float(top_pop.loc[(a, x), "flip_cost"]),
             "flip_cost_finite": float(top.loc[(a, x), "flip_cost"])}
            for a, x in top.index
        ],
        "finite_weight_error": {
            int(n): float(g.abs().to_numpy().mean()) for n, g in gap.groupby(level="n_train")
        },
    }


def run_linear_study(cfg: dict, out_dir: Path) -> float:
    """Write ``sweep.csv`` (tidy, one row per fit and test shift) and ``summary.json``; return
    the wall time in seconds (printed and logged, kept out of the files: they are artifacts
    and must be the same bytes on every run).

    BLAS is held to one thread: the matrices are (dim_core + dim_spurious) wide, where thread
    hand-offs cost far more than they save (over 10x slower with the default pool on a busy
    2-core machine).
    """
    finite, dims = cfg["finite_sample"], cfg["model"]["dim_core"] + cfg["model"]["dim_spurious"]
    if not set(finite["sigma_ratio"]) <= set(cfg["sweep"]["sigma_ratio"]):
        raise ParamsError("params: linear.finite_sample.sigma_ratio must be a subset of "
                          "linear.sweep.sigma_ratio (finite fits are compared with those optima)")
    if min(finite["n_train"]) <= dims:
        raise ParamsError("params: linear.finite_sample.n_train must exceed dim_core + "
                          f"dim_spurious = {dims} (least squares starts every fit)")
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        df = pd.concat([population_sweep(cfg), finite_sample_sweep(cfg)], ignore_index=True)
        claims = claim_verdicts(df, float(cfg["verdict"]["zero_tol"]))
    fits = df[df["test_shift"] == df["test_shift"].iloc[0]]
    with atomic_path(Path(out_dir) / SWEEP_CSV) as tmp:
        df.to_csv(tmp, index=False)
    save_json(Path(out_dir) / SUMMARY_JSON, {
        "config": cfg,
        "claims": claims,
        "headline": headline(df),
        "fits": len(fits),
        "fits_not_converged": int((~fits["converged"]).sum()),
    })
    return time.perf_counter() - start
