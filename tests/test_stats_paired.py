"""Paired inference that decides the claims: t and bootstrap intervals, the per-image test,
Holm's correction (as p-values and as intervals), the seeds a claim would need, and the
outcomes (verdict and reason) on synthetic per-seed metrics with a planted effect."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
from scipy import stats

from robsens.core.stats import (
    LARGE_ENOUGH,
    NO_INTERVAL,
    OPEN,
    OPPOSITE,
    TOO_SMALL,
    Interval,
    Outcome,
    decide,
    holm,
    holm_intervals,
    paired_bootstrap,
    paired_differences,
    paired_t,
    per_image,
    seeds_needed,
    signed,
)

LEVEL = 0.95
# per-seed metrics of two models sharing each seed (known inputs, not generated)
SUBJECT = np.array([0.812, 0.794, 0.833, 0.805, 0.821, 0.799, 0.818])
REFERENCE = np.array([0.781, 0.790, 0.802, 0.779, 0.806, 0.788, 0.790])


def test_paired_t_agrees_with_scipy():
    for level in (0.9, 0.95, 0.99):
        got = paired_t(SUBJECT - REFERENCE, level)
        ci = stats.ttest_1samp(SUBJECT - REFERENCE, 0.0).confidence_interval(level)
        assert got.low == pytest.approx(ci.low, rel=1e-12)
        assert got.high == pytest.approx(ci.high, rel=1e-12)
        assert got.p_value == pytest.approx(stats.ttest_rel(SUBJECT, REFERENCE).pvalue,
                                            rel=1e-10)
        assert got.estimate == pytest.approx(np.mean(SUBJECT - REFERENCE), rel=1e-12)
        assert got.sd == pytest.approx(np.std(SUBJECT - REFERENCE, ddof=1), rel=1e-12)
        assert (got.n, got.level, got.method) == (7, level, "t")


def test_paired_differences_pair_by_seed_over_finite_common_seeds():
    subject = {3: 0.9, 1: 0.7, 2: math.nan, 7: 0.5}
    reference = {1: 0.6, 2: 0.4, 3: 0.8, 5: 0.3}
    np.testing.assert_allclose(paired_differences(subject, reference), [0.1, 0.1])
    assert paired_differences({1: 0.5}, {2: 0.5}).shape == (0,)


def test_too_few_seeds_give_no_interval_and_no_verdict():
    for method in (paired_t, functools.partial(paired_bootstrap, resamples=100, seed=0)):
        for diffs in ([], [0.3], [0.3, math.nan]):
            got = method(diffs, LEVEL)
            assert math.isnan(got.low) and math.isnan(got.high) and math.isnan(got.p_value)
            assert math.isnan(got.sd) and got.n == len(diffs[:1])
    [(short, rejected), (long, long_rejected)] = holm_intervals(
        [np.array([0.3]), np.full(6, 0.05) + np.arange(6) * 1e-3], LEVEL)
    assert not rejected and long_rejected and long.level == pytest.approx(1 - 0.05 / 2)
    assert decide(short, "higher", 0.0, rejected) == ("inconclusive", NO_INTERVAL)
    assert math.isnan(holm([math.nan, 0.01])[0]) and holm([math.nan, 0.01])[1] == 0.02


def test_interval_is_json_able_with_nan_kept():
    row = paired_t([0.3], LEVEL).as_dict()
    assert set(row) == {"estimate", "low", "high", "level", "p_value", "n", "sd", "method"}
    assert type(row["n"]) is int and math.isnan(row["low"])
    assert json.loads(json.dumps(paired_t(SUBJECT - REFERENCE, LEVEL).as_dict()))["n"] == 7


def test_bootstrap_is_deterministic_and_close_to_t_on_a_large_normal_sample():
    d = np.random.default_rng(0).normal(0.02, 0.1, size=400)
    a, b = (paired_bootstrap(d, LEVEL, resamples=4000, seed=1) for _ in range(2))
    assert a == b
    assert paired_bootstrap(d, LEVEL, resamples=4000, seed=2) != a
    t = paired_t(d, LEVEL)
    width = t.high - t.low
    assert abs(a.low - t.low) < 0.05 * width and abs(a.high - t.high) < 0.05 * width
    assert a.p_value == pytest.approx(t.p_value, abs=0.01)
    assert (a.estimate, a.sd, a.method) == (t.estimate, t.sd, "bootstrap")
    # a difference far from 0: no resample crosses it, p floored at 1 / resamples
    assert paired_bootstrap(d + 1.0, LEVEL, resamples=500, seed=1).p_value == 1 / 500


def test_holm_textbook_example():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.4]), [0.8, 0.8])  # monotone and capped at 1
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])


def _step_down(p: np.ndarray, alpha: float) -> set[int]:
    """Holm's procedure as written in the textbook: walk the sorted p-values, reject while
    p_(k) <= alpha / (m - k)."""
    rejected = set()
    for k, i in enumerate(sorted(range(len(p)), key=lambda j: p[j])):
        if p[i] > alpha / (len(p) - k):
            break
        rejected.add(i)
    return rejected


def test_holm_agrees_with_the_step_down_procedure_on_random_inputs():
    rng = np.random.default_rng(3)
    for _ in range(200):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 8)) ** rng.uniform(0.5, 2)
        adjusted = holm(p)
        assert np.all(adjusted <= 1) and np.all(adjusted >= p)
        order = np.argsort(p)
        assert np.all(np.diff(adjusted[order]) >= 0)
        for alpha in rng.uniform(0, 0.3, size=20):
            assert set(np.flatnonzero(adjusted <= alpha)) == _step_down(p, alpha)


def test_holm_intervals_reject_exactly_where_holm_p_values_do():
    rng = np.random.default_rng(4)
    decisive = 0
    for _ in range(100):
        m = int(rng.integers(1, 6))
        diffs = [rng.normal(rng.choice([0.0, 0.01, 0.02]), 0.02, size=int(rng.integers(3, 12)))
                 for _ in range(m)]
        result = holm_intervals(diffs, LEVEL)
        p = [paired_t(d, LEVEL).p_value for d in diffs]
        expected = holm(p) < 1 - LEVEL
        assert [r for _, r in result] == list(expected)
        decisive += int(expected.any() and not expected.all())
        ranks = np.argsort(np.argsort(p, kind="stable"), kind="stable")
        for (iv, _), d, k in zip(result, diffs, ranks, strict=True):  # input order kept
            assert iv.level == pytest.approx(1 - (1 - LEVEL) / (m - k))
            assert iv.estimate == pytest.approx(np.mean(d))
    assert decisive > 10  # the comparison above saw families with mixed outcomes


def test_holm_intervals_with_bootstrap_intervals():
    rng = np.random.default_rng(5)
    diffs = [rng.normal(0.05, 0.02, size=10), rng.normal(0.0, 0.02, size=10)]
    boot = functools.partial(paired_bootstrap, resamples=2000, seed=0)
    [(strong, r1), (null, r2)] = holm_intervals(diffs, LEVEL, interval=boot)
    assert r1 and not r2 and strong.method == null.method == "bootstrap"
    assert strong.level == pytest.approx(1 - 0.05 / 2) and null.level == pytest.approx(LEVEL)


def test_per_image_on_one_seed_agrees_with_the_paired_t_test():
    rng = np.random.default_rng(6)
    n = 6000
    latent = rng.uniform(size=n)  # image difficulty shared by both models: paired outcomes
    reference = (latent < 0.80).astype(float)
    subject = ((latent + rng.normal(0, 0.05, size=n)) < 0.805).astype(float)
    got = per_image([subject], [reference], LEVEL)
    test = stats.ttest_rel(subject, reference)
    assert 0.001 < test.pvalue < 0.5  # a p-value in the range where agreement matters
    assert got.p_value == pytest.approx(test.pvalue, abs=1e-3)
    d = subject - reference
    se = d.std(ddof=1) / math.sqrt(n)
    z = stats.norm.ppf((1 + LEVEL) / 2)
    assert got.low == pytest.approx(d.mean() - z * se, rel=1e-12)
    assert got.high == pytest.approx(d.mean() + z * se, rel=1e-12)
    ci = test.confidence_interval(LEVEL)
    assert got.low == pytest.approx(ci.low, rel=1e-3) and got.high == pytest.approx(ci.high,
                                                                                   rel=1e-3)
    assert (got.n, got.method) == (1, "per_image") and math.isnan(got.sd)


def test_per_image_combines_seeds():
    rng = np.random.default_rng(7)
    subject = [rng.normal(0.1 * s, 1.0, size=500 + 100 * s) for s in range(3)]
    reference = [rng.normal(0.0, 1.0, size=len(x)) for x in subject]
    reference[1][4] = math.nan  # that image drops out of seed 1 only
    got = per_image(subject, reference, LEVEL)
    diffs = [(s - r)[np.isfinite(r)] for s, r in zip(subject, reference, strict=True)]
    means = [d.mean() for d in diffs]
    se = math.sqrt(sum(d.var(ddof=1) / len(d) for d in diffs)) / 3
    assert got.estimate == pytest.approx(np.mean(means), rel=1e-12)
    assert got.high - got.low == pytest.approx(2 * stats.norm.ppf(0.975) * se, rel=1e-12)
    assert got.p_value == pytest.approx(2 * stats.norm.sf(abs(np.mean(means)) / se), rel=1e-9)
    assert got.sd == pytest.approx(np.std(means, ddof=1)) and got.n == 3
    with pytest.raises(ValueError, match="same images"):
        per_image([np.zeros(3)], [np.zeros(4)], LEVEL)


def test_seeds_needed_is_the_smallest_count_that_excludes_zero():
    rng = np.random.default_rng(8)
    for _ in range(100):
        sd, effect, level = rng.uniform(0.005, 0.05), rng.uniform(-0.03, 0.03), rng.uniform(0.8,
                                                                                           0.99)
        got = seeds_needed(sd, effect, level, max_seeds=200)
        excludes = [stats.t.ppf((1 + level) / 2, n - 1) * sd / math.sqrt(n) < abs(effect)
                    for n in range(2, 201)]
        assert got == (2 + excludes.index(True) if True in excludes else None)
    assert seeds_needed(0.02, 0.0, LEVEL) is None
    assert seeds_needed(math.nan, 0.01, LEVEL) is None
    assert seeds_needed(0.02, 1e-6, LEVEL, max_seeds=50) is None
    assert seeds_needed(0.0, 0.01, LEVEL) == 2


def _outcome(effect: float, rng: np.random.Generator, noise: float = 0.02,
             min_effect: float = 0.03, direction: str = "higher") -> Outcome:
    """Ten seeds of synthetic per-seed metrics whose paired differences have sd ``noise``; the
    seed's own level is shared by both models (as shared initialisation and batch order are)
    and cancels in the pairs."""
    seeds = range(10)
    level = rng.normal(0.8, 0.05, size=10)
    reference = {s: level[s] + rng.normal(0, noise / math.sqrt(2)) for s in seeds}
    subject = {s: level[s] + effect + rng.normal(0, noise / math.sqrt(2)) for s in seeds}
    [(interval, rejected)] = holm_intervals([paired_differences(subject, reference)], LEVEL)
    return decide(interval, direction, min_effect, rejected)


def test_outcomes_on_synthetic_per_seed_metrics():
    rng = np.random.default_rng(9)
    assert _outcome(+0.05, rng) == ("supported", LARGE_ENOUGH)
    assert _outcome(-0.05, rng) == ("refuted", OPPOSITE)
    assert _outcome(-0.05, rng, direction="lower") == ("supported", LARGE_ENOUGH)
    assert _outcome(+0.05, rng, direction="lower") == ("refuted", OPPOSITE)
    # no effect, measured tightly enough (half-width ~0.014) to exclude the 0.03 that matters
    assert _outcome(0.0, rng) == ("refuted", TOO_SMALL)
    # significant but smaller than what matters: refuted too, as too small
    assert _outcome(0.01, rng, noise=0.001) == ("refuted", TOO_SMALL)
    # no effect, measured loosely (half-width ~0.07): the interval still holds 0.03
    assert _outcome(0.0, rng, noise=0.1) == ("inconclusive", OPEN)
    null = [_outcome(0.0, rng, noise=0.1) for _ in range(50)]
    # a false "opposite" or a false "supported" is a significant result on one side: expected
    # share (1 - LEVEL) / 2 = 2.5 % each, here at most 10 %
    assert sum(o.reason == OPPOSITE for o in null) <= 5
    assert sum(o.verdict == "supported" for o in null) <= 5


def test_decide_rules():
    iv = Interval(0.02, 0.01, 0.03, LEVEL, 0.001, 10, 0.01, "t")
    assert decide(iv, "higher", 0.02, True) == ("supported", LARGE_ENOUGH)
    assert decide(iv, "higher", 0.021, True) == ("inconclusive", OPEN)  # 0.021 in [0.01, 0.03]
    assert decide(iv, "higher", 0.0, False) == ("inconclusive", OPEN)
    assert decide(iv, "higher", 0.04, True) == ("refuted", TOO_SMALL)  # significant, small
    assert decide(iv, "lower", 0.05, True) == ("refuted", OPPOSITE)
    assert decide(iv, "lower", 0.05, False) == ("refuted", TOO_SMALL)  # signed hi -0.01 < 0.05
    # direction "lower": negated and swapped, so the signed interval is [-0.03, -0.01]
    assert signed(iv, "lower") == (-0.02, -0.03, -0.01)
    down = Interval(-0.05, -0.07, -0.03, LEVEL, 0.001, 10, 0.01, "t")
    assert decide(down, "lower", 0.02, True) == ("supported", LARGE_ENOUGH)
    assert decide(down, "lower", 0.08, True) == ("refuted", TOO_SMALL)  # signed hi 0.07 < 0.08
    around = Interval(-0.002, -0.02, 0.016, LEVEL, 0.8, 10, 0.02, "t")
    assert decide(around, "higher", 0.1, False) == ("refuted", TOO_SMALL)  # a tight null
    assert decide(around, "higher", 0.01, False) == ("inconclusive", OPEN)
    nan = Interval(math.nan, math.nan, math.nan, LEVEL, math.nan, 1, math.nan, "t")
    assert decide(nan, "higher", 0.0, True) == ("inconclusive", NO_INTERVAL)
    with pytest.raises(ValueError, match="direction"):
        decide(iv, "up", 0.0, True)
