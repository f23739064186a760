"""Claim 3 of science.md section 7 as a record (:class:`robsens.report.claims.Claim`).

Input: the sensitivity summary (one row per model, :func:`robsens.core.stats.summarise`)
with the models' roles (:func:`robsens.report.tables.with_roles`). Models are picked by role,
never by name; the decision is one function, :func:`fcl_selectivity_rule`.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from robsens.report.claims import (
    INCONCLUSIVE,
    REFUTED,
    SUPPORTED,
    Claim,
    Estimate,
    combine,
    estimate,
    role_rows,
    separation,
    unchecked,
)

# the claim-3 quantities (also the section's DVC metrics); the first is the primary one
METRICS = ["context_selectivity_perturbation", "context_selectivity_gradient",
           "alignment_perturbation", "alignment_gradient"]
RIVALS = ("baseline", "noise_curve", "ablation")  # the roles FCL is compared with
FCL_SELECTIVITY = (
    "FCL has higher context selectivity and alignment than ERM, noise augmentation and "
    "FCL-random: it moves with the corner digit where the corner decides the label and stays "
    "put where it does not.")
FCL_SELECTIVITY_RULE = (
    "t-intervals over seeds: per FCL model and quantity, supported if its interval lies wholly "
    "above every rival's, refuted if wholly below any rival's, inconclusive otherwise; "
    "supported if all are, refuted if any is")


def fcl_selectivity_rule(fcl: Estimate, rivals: dict[str, Estimate]) -> str:
    """Claim 3 on one quantity: an FCL model against every rival."""
    found = [separation(fcl, r) for r in rivals.values()]
    if "lower" in found:
        return REFUTED
    return SUPPORTED if all(s == "higher" for s in found) else INCONCLUSIVE


def fcl_selectivity(summary: pd.DataFrame) -> Claim:
    claim = Claim("fcl_selectivity", 3, FCL_SELECTIVITY, FCL_SELECTIVITY_RULE, metric=METRICS[0])
    fcl = role_rows(summary, "fcl")
    by_role = {r: role_rows(summary, r) for r in RIVALS}
    if fcl.empty or any(rows.empty for rows in by_role.values()):
        return unchecked(claim, summary, "fcl", *RIVALS)  # the claim names every rival
    rivals = pd.concat(by_role.values())
    estimates = {row["model"]: {m: estimate(row, m) for m in METRICS}
                 for _, row in pd.concat([fcl, rivals]).iterrows()}
    checks = {f: {m: fcl_selectivity_rule(estimates[f][m],
                                          {r: estimates[r][m] for r in rivals["model"]})
                  for m in METRICS}
              for f in fcl["model"]}
    strongest = rivals.loc[rivals[METRICS[0]].idxmax(), "model"]
    models = {role: list(role_rows(summary, role)["model"]) for role in ("fcl", *RIVALS)}
    return replace(
        claim, verdict=combine(checks), models={r: ms for r, ms in models.items() if ms},
        estimates=estimates, primary=list(fcl["model"]), reference=strongest, checks=checks,
        note=f"Reference: the rival with the highest mean {METRICS[0]} ({strongest}). "
             "Corner sensitivity under centres 0-4 (claim 1) is in the table above.")
