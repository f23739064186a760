"""The exact inner maximum and the Gaussian closed forms against brute force."""

import itertools

import numpy as np
import pytest

from robsens.linear.adversarial import (
    DUAL_ORD,
    inner_max_loss,
    population_adversarial_risk,
    residual_variance,
)
from robsens.linear.gaussian import GaussianModel


def _vertices(attack: str, dim: int, eps: float) -> np.ndarray:
    """The l_1 and l_inf balls are polytopes: a convex loss peaks at one of their vertices."""
    if attack == "l1":
        return eps * np.vstack([np.eye(dim), -np.eye(dim)])
    return eps * np.array(list(itertools.product([-1.0, 1.0], repeat=dim)))


@pytest.mark.parametrize("attack", ["l1", "linf"])
def test_inner_max_matches_vertex_enumeration(attack):
    rng = np.random.default_rng(0)
    for _ in range(20):
        w, x, y, eps = rng.normal(size=6), rng.normal(size=6), rng.normal(), rng.uniform(0, 2)
        brute = ((x + _vertices(attack, 6, eps)) @ w - y) ** 2
        assert inner_max_loss(w, x[None], np.array([y]), attack, eps)[0] == pytest.approx(
            brute.max(), rel=1e-12)


def test_inner_max_l2_matches_dense_sphere_search():
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(400_000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    for _ in range(10):
        w, x, y, eps = rng.normal(size=3), rng.normal(size=3), rng.normal(), rng.uniform(0, 2)
        brute = ((x + eps * directions) @ w - y) ** 2
        exact = inner_max_loss(w, x[None], np.array([y]), "l2", eps)[0]
        assert brute.max() <= exact * (1 + 1e-12)
        assert brute.max() == pytest.approx(exact, rel=1e-4)


@pytest.mark.parametrize("dims", [(4, 4), (3, 5)])
def test_moments_match_a_large_sample(dims):
    model = GaussianModel(*dims, sigma_core=1.3, sigma_spurious=0.7, rho=0.6, noise_std=0.2)
    x, y = model.sample(400_000, np.random.default_rng(2))
    cov, cross, var_y = model.moments()
    assert np.abs(x.T @ x / len(y) - cov).max() < 0.01
    assert np.abs(x.T @ y / len(y) - cross).max() < 0.01
    assert y.var() == pytest.approx(var_y, rel=0.01)


@pytest.mark.parametrize("attack", list(DUAL_ORD))
def test_population_risk_matches_monte_carlo(attack):
    model = GaussianModel(4, 4, sigma_core=1.0, sigma_spurious=1.5, rho=0.7, noise_std=0.3)
    rng = np.random.default_rng(3)
    x, y = model.sample(400_000, rng)
    w = rng.normal(size=8) * 0.3
    exact = population_adversarial_risk(w, *model.moments(), attack, 0.2)
    assert inner_max_loss(w, x, y, attack, 0.2).mean() == pytest.approx(exact, rel=0.01)
    assert ((x @ w - y) ** 2).mean() == pytest.approx(
        residual_variance(w, *model.moments()), rel=0.01)
