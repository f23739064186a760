"""Verdicts on the claims of docs/science.md section 6, computed from the sweep table only.

Population optima are exact, so their zeros are checked as zeros (up to ``zero_tol``).
A finite sample never gives an exact zero for free (least squares already puts sampling noise on
w_s), so each finite-sample check compares a fit with the eps = 0 fit of the *same* sample
(``lift``: how much adversarial training moved a quantity) and is judged at the largest n,
with the other sample sizes reported alongside.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

THRESHOLD = 1.0  # rho sigma_s / sigma_c at which l_inf training starts to use spurious features


def _same(df: pd.DataFrame, source: str) -> pd.DataFrame:
    return df[(df["source"] == source) & (df["test_shift"] == "same")]


def _lift(fin: pd.DataFrame, column: str) -> pd.DataFrame:
    """Seed-mean of ``column`` minus its value at eps = 0 on the same sample."""
    keys = ["n_train", "seed", "attack", "rho_sigma_ratio"]
    base = fin[fin["eps_rel"] == 0].set_index(keys)[column]
    at_zero = base.loc[fin.set_index(keys).index].to_numpy()
    lifted = fin.assign(lift=fin[column].to_numpy() - at_zero)
    return lifted.groupby(["n_train", "attack", "rho_sigma_ratio", "eps_rel"], as_index=False)[
        "lift"].mean()


def _per_n(values: pd.Series) -> str:
    return ", ".join(f"n={int(n)}: {v:+.3g}" for n, v in values.items())


def _verdict(ok: bool, evidence: str) -> dict:
    return {"supported": bool(ok), "evidence": evidence}


def _below(x: pd.Series) -> pd.Series:
    return (x < THRESHOLD) | np.isclose(x, THRESHOLD)


def spurious_for_every_eps(df: pd.DataFrame, zero_tol: float) -> dict:
    pop = _same(df, "population")
    pop = pop[pop["attack"].isin(["l1", "l2"]) & (pop["eps_rel"] > 0)]
    low = pop.groupby("attack")["w_spur_norm"].min()
    lift = _lift(_same(df, "finite"), "reliance")
    lift = lift[lift["attack"].isin(["l1", "l2"]) & (lift["eps_rel"] > 0)]
    worst = lift.groupby("n_train")["lift"].min()
    return {
        "population": _verdict(
            bool((low > zero_tol).all()),
            "min ||w_s||_2 over eps > 0: " + ", ".join(f"{a}: {v:.3g}" for a, v in low.items()),
        ),
        "finite": _verdict(
            bool(worst.iloc[-1] > 0),
            "min over eps > 0 of the rise in reliance over the eps = 0 fit: " + _per_n(worst),
        ),
    }


def linf_threshold(df: pd.DataFrame, zero_tol: float) -> dict:
    pop = _same(df, "population")
    pop = pop[(pop["attack"] == "linf") & (pop["eps_rel"] > 0)]
    below = _below(pop["rho_sigma_ratio"])
    max_below = pop.loc[below, "w_spur_max"].max()
    min_above = pop.loc[~below, "w_spur_norm"].min()
    used = pop.loc[pop["w_spur_max"] > zero_tol, "rho_sigma_ratio"]
    unused = pop.loc[pop["w_spur_max"] <= zero_tol, "rho_sigma_ratio"]
    lift = _lift(_same(df, "finite"), "reliance")
    lift = lift[(lift["attack"] == "linf") & (lift["eps_rel"] > 0)]
    fin_below = lift[_below(lift["rho_sigma_ratio"])].groupby("n_train")["lift"].max()
    top = lift[~_below(lift["rho_sigma_ratio"]) & (lift["eps_rel"] == lift["eps_rel"].max())]
    fin_above = top.groupby("n_train")["lift"].min()
    return {
        "population": _verdict(
            bool(max_below <= zero_tol < min_above),
            f"max abs(w_s) for rho sigma_s/sigma_c <= 1: {max_below:.2g}; min ||w_s||_2 above: "
            f"{min_above:.3g}; measured threshold in ({unused.max():.3g}, {used.min():.3g}]",
        ),
        "finite": _verdict(
            bool(fin_below.iloc[-1] <= 0 < fin_above.iloc[-1]),
            "largest rise in reliance over the eps = 0 fit below the threshold: "
            + _per_n(fin_below) + "; smallest rise at the largest eps above it: "
            + _per_n(fin_above),
        ),
    }


def _shift_correlations(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rank correlation of ||w_s|| with the shift cost (shifted minus in-domain test MSE)."""
    rows = df[df["source"] == source]
    same = rows[rows["test_shift"] == "same"]["test_mse"].to_numpy()
    out = []
    for shift in rows["test_shift"].unique():
        if shift == "same":
            continue
        shifted = rows[rows["test_shift"] == shift]
        cost = shifted["test_mse"].to_numpy() - same
        for n, idx in shifted.groupby(shifted["n_train"].fillna(0)).indices.items():
            corr = pd.Series(shifted["w_spur_norm"].to_numpy()[idx]).corr(
                pd.Series(cost[idx]), method="spearman")
            out.append({"shift": shift, "n_train": n, "spearman": corr,
                        "max_cost": float(cost[idx].max())})
    return pd.DataFrame(out)


def shift_cost(df: pd.DataFrame) -> dict:
    pop = _shift_correlations(df, "population")
    fin = _shift_correlations(df, "finite")
    top_n = fin["n_train"].max()
    return {
        "population": _verdict(
            bool((pop["spearman"] > 0).all()),
            "Spearman(||w_s||, shifted - in-domain MSE): "
            + ", ".join(f"{r.shift}: {r.spearman:.3f} (max cost {r.max_cost:.3g})"
                        for r in pop.itertuples()),
        ),
        "finite": _verdict(
            bool((fin.loc[fin["n_train"] == top_n, "spearman"] > 0).all()),
            "Spearman per shift and n: "
            + ", ".join(f"{r.shift} n={int(r.n_train)}: {r.spearman:.3f}"
                        for r in fin.itertuples()),
        ),
    }


def spurious_lowers_adv_risk(df: pd.DataFrame, zero_tol: float) -> dict:
    pop = df[df["source"] == "population"]
    gain = pop["core_only_test_adv_risk"] - pop["test_adv_risk"]
    same = pop["test_shift"] == "same"
    flipped_worse = (gain[pop["test_shift"] == "flipped"] < -zero_tol).mean()
    fin = _same(df, "finite")
    fin = fin.assign(gain=fin["core_only_test_adv_risk"] - fin["test_adv_risk"])
    fin_gain = fin.groupby(["n_train", "attack", "rho_sigma_ratio", "eps_rel"])["gain"].mean()
    pop_gain = gain[same].groupby([pop["attack"], pop["rho_sigma_ratio"], pop["eps_rel"]]).first()
    expected = pop_gain.reindex(fin_gain.index.droplevel("n_train")).to_numpy()
    helps = expected > zero_tol
    share = (fin_gain[helps] > 0).groupby("n_train").mean()
    missed = expected[helps & (fin_gain.to_numpy() <= 0)]
    return {
        "population": _verdict(
            bool(gain[same].min() >= -zero_tol),
            f"min (core-only - full) adversarial risk at the training rho: "
            f"{gain[same].min():.2g}, max gain {gain[same].max():.3g}; with rho flipped the "
            f"full model is worse in {flipped_worse:.0%} of fits",
        ),
        "finite": _verdict(
            bool(share.iloc[-1] == 1.0),
            "share of fits with a population gain where the finite-sample model also gains "
            "(test adversarial risk, seed mean): " + ", ".join(
                f"n={int(n)}: {v:.0%}" for n, v in share.items())
            + (f"; the misses have population gains <= {missed.max():.2g}" if len(missed) else ""),
        ),
    }


CLAIMS = {  # id -> (statement, check, attack norms it needs), in docs/science.md's order
    "spurious_for_every_eps": (
        "l_2 and l_1 adversarial training put nonzero weight on spurious features for every "
        "eps > 0 (rho != 0).", spurious_for_every_eps, {"l1", "l2"}),
    "linf_threshold": (
        "l_inf adversarial training keeps w_s = 0 while rho sigma_s <= sigma_c and uses "
        "spurious features only beyond that threshold.", linf_threshold, {"linf"}),
    "shift_cost": (
        "Test error after a shift of the spurious correlation (rho -> 0, -rho) grows with the "
        "spurious weight, so adversarial training can cost distributional robustness.",
        lambda df, _: shift_cost(df), set()),
    "spurious_lowers_adv_risk": (
        "With the correlation preserved, allowing spurious features can only lower the "
        "adversarial risk.", spurious_lowers_adv_risk, set()),
}


def claim_verdicts(df: pd.DataFrame, zero_tol: float) -> list[dict]:
    """Each claim with a population and a finite-sample verdict; ``supported`` is None for a
    claim about an attack norm the sweep left out."""
    out = []
    for claim_id, (statement, check, needs) in CLAIMS.items():
        missing = sorted(needs - set(df["attack"]))
        if missing:
            unchecked = {"supported": None, "evidence": f"not swept: {', '.join(missing)}"}
            verdicts = {"population": unchecked, "finite": unchecked}
        else:
            verdicts = check(df, zero_tol)
        out.append({"id": claim_id, "statement": statement, **verdicts})
    return out
