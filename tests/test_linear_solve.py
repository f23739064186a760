"""The adversarial-risk minimiser: exactness, the l_inf threshold, finite-sample consistency."""

import numpy as np
import pytest
from scipy.optimize import check_grad, minimize

from robsens.linear.adversarial import (
    DUAL_ORD,
    inner_max_loss,
    null_radius,
    population_adversarial_risk,
)
from robsens.linear.gaussian import GaussianModel
from robsens.linear.solve import (
    empirical_moments,
    least_squares,
    minimise_adversarial_risk,
    population_moments,
)

DIM, TOL, MAX_ITER = 5, 1e-12, 1000
ATTACKS = list(DUAL_ORD)


def _model(rho_sigma_ratio: float) -> GaussianModel:
    rho = 0.8
    return GaussianModel(DIM, DIM, sigma_core=1.0, sigma_spurious=rho_sigma_ratio / rho,
                         rho=rho, noise_std=0.1)


def _solve(model: GaussianModel, attack: str, eps_rel: float, w0=None) -> np.ndarray:
    cov, cross, var_y = model.moments()
    eps = eps_rel * null_radius(cross[:DIM], var_y, attack)
    start = least_squares(cov, cross) if w0 is None else w0
    w, ok = minimise_adversarial_risk(population_moments(cov, cross, var_y), attack, eps, start,
                                      TOL, MAX_ITER)
    assert ok
    return w


def test_moment_gradients_are_exact():
    model = _model(1.2)
    x, y = model.sample(500, np.random.default_rng(0))
    w = np.random.default_rng(1).normal(size=2 * DIM)
    for moments in (population_moments(*model.moments()), empirical_moments(x, y)):
        for k in (0, 2):  # (m2, grad m2) and (m1, grad m1)
            err = check_grad(lambda v, f=moments, k=k: f(v)[k],
                             lambda v, f=moments, k=k: f(v)[k + 1], w)
            assert err < 1e-6


def test_empirical_risk_is_the_exact_inner_max():
    model = _model(1.2)
    x, y = model.sample(300, np.random.default_rng(2))
    w = np.random.default_rng(3).normal(size=2 * DIM)
    m2, _, m1, _ = empirical_moments(x, y)(w)
    for attack in ATTACKS:
        norm = np.linalg.norm(w, ord=DUAL_ORD[attack])
        assert m2 + 2 * 0.3 * norm * m1 + (0.3 * norm) ** 2 == pytest.approx(
            inner_max_loss(w, x, y, attack, 0.3).mean(), rel=1e-12)


@pytest.mark.parametrize("attack", ATTACKS)
def test_eps_zero_gives_least_squares_without_spurious_weight(attack):
    model = _model(1.5)
    w = _solve(model, attack, 0.0, w0=np.full(2 * DIM, 0.1))
    cov, cross, _ = model.moments()
    assert np.abs(w - least_squares(cov, cross)).max() < 1e-6
    assert np.abs(w[DIM:]).max() < 1e-6


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("ratio", [0.6, 1.5])
def test_optimum_matches_the_symmetric_two_variable_reduction(attack, ratio):
    """Exchangeability: all core weights equal, all spurious weights equal; a derivative-free
    solve of that 2-variable problem is an independent check of precision."""
    model = _model(ratio)
    cov, cross, var_y = model.moments()
    eps = 0.5 * null_radius(cross[:DIM], var_y, attack)
    w = _solve(model, attack, 0.5)

    def reduced(ab):
        return population_adversarial_risk(np.repeat(ab, DIM), cov, cross, var_y, attack, eps)

    ref = minimize(reduced, [0.3, 0.05], method="Nelder-Mead",
                   options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 20_000})
    assert np.ptp(w[:DIM]) < 1e-8 and np.ptp(w[DIM:]) < 1e-8
    assert np.abs(w - np.repeat(ref.x, DIM)).max() < 1e-6
    assert reduced([w[0], w[DIM]]) <= ref.fun + 1e-12


@pytest.mark.parametrize("eps_rel", [0.05, 0.3, 0.6, 0.9])
def test_linf_spurious_weight_is_zero_below_threshold_only(eps_rel):
    for ratio in (0.4, 0.8, 1.0):
        assert np.abs(_solve(_model(ratio), "linf", eps_rel)[DIM:]).max() <= 1e-12
    for ratio in (1.1, 1.5, 2.5):
        assert np.linalg.norm(_solve(_model(ratio), "linf", eps_rel)[DIM:]) > 1e-4


@pytest.mark.parametrize("attack", ["l1", "l2"])
@pytest.mark.parametrize("eps_rel", [1e-3, 1e-2, 0.1, 0.6])
def test_l1_l2_attacks_use_spurious_features_for_every_eps(attack, eps_rel):
    for ratio in (0.2, 0.8, 1.5):
        assert np.linalg.norm(_solve(_model(ratio), attack, eps_rel)[DIM:]) > 1e-5 * eps_rel


@pytest.mark.parametrize("attack", ATTACKS)
def test_null_radius_is_where_the_core_only_optimum_vanishes(attack):
    model = _model(1.0)
    cov, cross, var_y = model.moments()
    core = population_moments(cov[:DIM, :DIM], cross[:DIM], var_y)
    radius = null_radius(cross[:DIM], var_y, attack)
    start = least_squares(cov[:DIM, :DIM], cross[:DIM])
    above, _ = minimise_adversarial_risk(core, attack, 1.02 * radius, start, TOL, MAX_ITER)
    below, _ = minimise_adversarial_risk(core, attack, 0.98 * radius, start, TOL, MAX_ITER)
    assert np.abs(above).max() < 1e-6 < np.abs(below).max()


@pytest.mark.parametrize("attack", ATTACKS)
def test_finite_sample_training_approaches_the_population_optimum(attack):
    model = _model(1.5)
    _, cross, var_y = model.moments()
    eps = 0.4 * null_radius(cross[:DIM], var_y, attack)
    target = _solve(model, attack, 0.4)
    errors = []
    for n in (400, 4000, 40_000):
        err = []
        for seed in range(3):
            x, y = model.sample(n, np.random.default_rng(seed))
            start = least_squares(x.T @ x / n, x.T @ y / n)
            w, _ = minimise_adversarial_risk(empirical_moments(x, y), attack, eps, start, TOL,
                                             MAX_ITER)
            err.append(np.linalg.norm(w - target))
        errors.append(np.mean(err))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02
