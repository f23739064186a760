"""Exact adversarial losses of a linear model under an l_p attack of radius eps.

For a linear model the inner maximum is explicit:
max_{||delta||_p <= eps} (w.(x + delta) - y)^2 = (|w.x - y| + eps ||w||_q)^2, q dual to p.
When the residual is Gaussian with sd s, its expectation is
s^2 + 2 sqrt(2/pi) eps ||w||_q s + eps^2 ||w||_q^2, so no sampling is ever needed.
"""

from __future__ import annotations

import numpy as np

DUAL_ORD = {"l1": np.inf, "l2": 2, "linf": 1}
ATTACK_ORD = {"l1": 1, "l2": 2, "linf": np.inf}
MEAN_ABS_GAUSS = np.sqrt(2 / np.pi)  # E|r| / sd(r) for a centred Gaussian residual


def dual_norm(w: np.ndarray, attack: str) -> np.ndarray:
    """||w||_q over the last axis: what an l_p attack of unit radius adds to |w.x - y|."""
    return np.linalg.norm(w, ord=DUAL_ORD[attack], axis=-1)


def inner_max_loss(
    w: np.ndarray, x: np.ndarray, y: np.ndarray, attack: str, eps: float
) -> np.ndarray:
    """Per-sample worst-case squared error, exact through the dual norm."""
    return (np.abs(x @ w - y) + eps * dual_norm(w, attack)) ** 2


def residual_variance(
    w: np.ndarray, cov: np.ndarray, cross: np.ndarray, var_y: float
) -> np.ndarray:
    """E(w.x - y)^2 for each row of ``w`` (the test MSE under the model of those moments)."""
    return np.einsum("...i,ij,...j->...", w, cov, w) - 2 * w @ cross + var_y


def population_adversarial_risk(
    w: np.ndarray, cov: np.ndarray, cross: np.ndarray, var_y: float, attack: str, eps: float
) -> np.ndarray:
    """E max_delta (w.(x + delta) - y)^2 in closed form, for each row of ``w``."""
    s = np.sqrt(residual_variance(w, cov, cross, var_y))
    pen = eps * dual_norm(w, attack)
    return s**2 + 2 * MEAN_ABS_GAUSS * pen * s + pen**2


def null_radius(cross: np.ndarray, var_y: float, attack: str) -> float:
    """Smallest eps at which w = 0 minimises the population adversarial risk.

    From the directional derivative at 0: w = 0 is optimal iff
    ||Cov(x, y)||_p <= sqrt(2/pi) eps sd(y), p the attack norm. It sets the natural eps scale.
    """
    return float(np.linalg.norm(cross, ord=ATTACK_ORD[attack]) / (MEAN_ABS_GAUSS * np.sqrt(var_y)))
