"""The sweep eps x attack x sigma_s/sigma_c, population optimum and finite-sample training.

Every fit is evaluated exactly under each test-time correlation (rho, 0, -rho by default):
test errors are expectations under the Gaussian model, so they carry no test-set noise.
The same fit restricted to the core block (w_s = 0) is evaluated alongside, to measure what
allowing spurious features changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robsens.linear.adversarial import (
    inner_max_loss,
    null_radius,
    population_adversarial_risk,
    residual_variance,
)
from robsens.linear.gaussian import GaussianModel
from robsens.linear.solve import (
    Moments,
    empirical_moments,
    least_squares,
    minimise_adversarial_risk,
    population_moments,
)


def build_model(model_cfg: dict, sigma_ratio: float) -> GaussianModel:
    """The data model of ``linear.model`` with sigma_s = sigma_ratio * sigma_c."""
    return GaussianModel(
        dim_core=int(model_cfg["dim_core"]),
        dim_spurious=int(model_cfg["dim_spurious"]),
        sigma_core=float(model_cfg["sigma_core"]),
        sigma_spurious=float(sigma_ratio * model_cfg["sigma_core"]),
        rho=float(model_cfg["rho"]),
        noise_std=float(model_cfg["noise_std"]),
    )


def eps_grid(model: GaussianModel, attack: str, eps_cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """(eps / eps_null, eps): eps_null, the radius that zeroes the core-only optimum, sets the
    scale so that the three norms are compared at the same relative attack strength."""
    rel = np.linspace(0.0, float(eps_cfg["max"]), int(eps_cfg["num"]))
    _, cross, var_y = model.moments()
    return rel, rel * null_radius(cross[: model.dim_core], var_y, attack)


def fit_path(
    moments: Moments, attack: str, eps: np.ndarray, w_start: np.ndarray, solver: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Optima along ascending eps, each warm-started at the previous one."""
    weights, converged, w = [], [], w_start
    for e in eps:
        w, ok = minimise_adversarial_risk(
            moments, attack, float(e), w, float(solver["tol"]), int(solver["max_iter"])
        )
        weights.append(w)
        converged.append(ok)
    return np.array(weights), np.array(converged)


def _quad(w: np.ndarray, cov: np.ndarray) -> np.ndarray:
    return np.einsum("ki,ij,kj->k", w, cov, w)


def evaluate(
    model: GaussianModel,
    attack: str,
    eps: np.ndarray,
    weights: np.ndarray,
    core_weights: np.ndarray,
    test_rho_factor: dict,
) -> pd.DataFrame:
    """Reliance, spurious share and exact test risks of each fit, one row per test shift."""
    dc = model.dim_core
    cov, _, _ = model.moments()
    wc, ws = weights[:, :dc], weights[:, dc:]
    sd_c, sd_s = np.sqrt(_quad(wc, cov[:dc, :dc])), np.sqrt(_quad(ws, cov[dc:, dc:]))
    norm_c, norm_s = np.linalg.norm(wc, axis=1), np.linalg.norm(ws, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        base = {
            "eps": eps,
            "w_core_norm": norm_c,
            "w_spur_norm": norm_s,
            "w_spur_max": np.abs(ws).max(axis=1),
            "reliance": norm_s / norm_c,
            "spurious_share": sd_s / (sd_c + sd_s),
        }
    core_full = np.hstack([core_weights, np.zeros_like(ws)])
    frames = []
    for shift, factor in test_rho_factor.items():
        test = model.with_rho(float(factor) * model.rho).moments()
        frames.append(pd.DataFrame({
            **base,
            "test_shift": shift,
            "rho_test": float(factor) * model.rho,
            "test_mse": residual_variance(weights, *test),
            "test_adv_risk": population_adversarial_risk(weights, *test, attack, eps),
            "core_only_test_mse": residual_variance(core_full, *test),
            "core_only_test_adv_risk": population_adversarial_risk(core_full, *test, attack, eps),
        }))
    return pd.concat(frames, ignore_index=True)


def _rows(meta: dict, frame: pd.DataFrame, rel: np.ndarray, train_risk, converged) -> pd.DataFrame:
    reps = len(frame) // len(rel)
    return frame.assign(
        **meta,
        eps_rel=np.tile(rel, reps),
        train_adv_risk=np.tile(train_risk, reps),
        converged=np.tile(converged, reps),
    )


def population_sweep(cfg: dict) -> pd.DataFrame:
    """Exact population optima over the grid."""
    sweep, solver = cfg["sweep"], cfg["solver"]
    frames = []
    for attack in sweep["attacks"]:
        core = build_model(cfg["model"], 0.0)
        rel, eps = eps_grid(core, attack, sweep["eps_rel"])
        cov, cross, var_y = core.moments()
        dc = core.dim_core
        core_w, _ = fit_path(population_moments(cov[:dc, :dc], cross[:dc], var_y), attack, eps,
                             least_squares(cov[:dc, :dc], cross[:dc]), solver)
        for ratio in sweep["sigma_ratio"]:
            model = build_model(cfg["model"], ratio)
            cov, cross, var_y = model.moments()
            w, ok = fit_path(population_moments(cov, cross, var_y), attack, eps,
                             least_squares(cov, cross), solver)
            risk = population_adversarial_risk(w, cov, cross, var_y, attack, eps)
            meta = {"source": "population", "n_train": np.nan, "seed": np.nan, "attack": attack,
                    "sigma_ratio": ratio, "rho_sigma_ratio": model.rho * ratio}
            frame = evaluate(model, attack, eps, w, core_w, sweep["test_rho_factor"])
            frames.append(_rows(meta, frame, rel, risk, ok))
    return pd.concat(frames, ignore_index=True)


def _empirical_fit(x: np.ndarray, y: np.ndarray, attack: str, eps: np.ndarray, solver: dict):
    n = len(y)
    start = least_squares(x.T @ x / n, x.T @ y / n)
    w, ok = fit_path(empirical_moments(x, y), attack, eps, start, solver)
    risk = np.array([inner_max_loss(wi, x, y, attack, e).mean()
                     for wi, e in zip(w, eps, strict=True)])
    return w, ok, risk


def finite_sample_sweep(cfg: dict) -> pd.DataFrame:
    """Adversarial training on drawn samples, on a subset of the population's sigma ratios.

    One seed draws the same z, n, eta for every sigma_s / sigma_c, so curves over the ratio
    differ by the model only, not by sampling noise.
    """
    sweep, solver, finite = cfg["sweep"], cfg["solver"], cfg["finite_sample"]
    dc = int(cfg["model"]["dim_core"])
    frames = []
    for n in finite["n_train"]:
        for seed in finite["seeds"]:
            draws = {r: build_model(cfg["model"], r).sample(n, np.random.default_rng(seed))
                     for r in finite["sigma_ratio"]}
            x_first, y = draws[finite["sigma_ratio"][0]]  # y and x_c do not depend on sigma_s
            x_core = x_first[:, :dc]
            for attack in sweep["attacks"]:
                rel, eps = eps_grid(build_model(cfg["model"], 0.0), attack, sweep["eps_rel"])
                core_w, _, _ = _empirical_fit(x_core, y, attack, eps, solver)
                for ratio, (x, _) in draws.items():
                    model = build_model(cfg["model"], ratio)
                    w, ok, risk = _empirical_fit(x, y, attack, eps, solver)
                    meta = {"source": "finite", "n_train": n, "seed": seed, "attack": attack,
                            "sigma_ratio": ratio, "rho_sigma_ratio": model.rho * ratio}
                    frame = evaluate(model, attack, eps, w, core_w, sweep["test_rho_factor"])
                    frames.append(_rows(meta, frame, rel, risk, ok))
    return pd.concat(frames, ignore_index=True)
