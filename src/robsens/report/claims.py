"""Claim records: the verdicts on science.md section 7 as data, and their two renderings.

Each slice that owns a claim's metric computes its record (``robustness/claims.py``: claims
1, 2 and 4; ``sensitivity/claims.py``: claim 3; the linear study's verdicts, claim 5, are
converted here). A record names its primary metric, the models compared by their role
(``robsens.methods.ROLES``), every estimate it rests on (mean and t-interval half-width over
seeds), the sub-verdicts (``checks``) its verdict combines and the rule applied. The report
writes the records into ``reports/summary.json`` under ``claims`` and renders the
"Claims at a glance" table and the per-claim details from them, never from the numbers again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from robsens.core.io import load_json
from robsens.core.stats import fmt_ci
from robsens.pipeline import paths

SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"
VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE)


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and the half-width of its t-interval (NaN: no interval)."""

    mean: float
    ci: float = math.nan

    @property
    def low(self) -> float:
        return self.mean - self.ci

    @property
    def high(self) -> float:
        return self.mean + self.ci

    def __str__(self) -> str:
        return fmt_ci(self.mean, self.ci)


def estimate(row: Mapping[str, Any], column: str) -> Estimate:
    """The estimate of ``column`` in a row of :func:`robsens.core.stats.summarise`."""
    return Estimate(float(row[column]), float(row[f"{column}_ci"]))


def separation(a: Estimate, b: Estimate) -> str:
    """``higher`` / ``lower`` when a's interval lies wholly above / below b's, else
    ``overlap`` (also when either has no interval: one seed cannot separate them)."""
    if a.low > b.high:
        return "higher"
    if a.high < b.low:
        return "lower"
    return "overlap"


def combine(checks: Mapping[str, Mapping[str, str]]) -> str:
    """One verdict from sub-verdicts: refuted if any is, supported if all are (and there is
    at least one), inconclusive otherwise."""
    found = [v for per_metric in checks.values() for v in per_metric.values()]
    if REFUTED in found:
        return REFUTED
    return SUPPORTED if found and all(v == SUPPORTED for v in found) else INCONCLUSIVE


@dataclass(frozen=True)
class Claim:
    """One claim's verdict with everything it rests on."""

    id: str
    number: int  # the claim's number in science.md section 7
    statement: str
    rule: str  # the decision rule applied, in words
    verdict: str = INCONCLUSIVE  # one of VERDICTS
    metric: str | None = None  # the primary metric
    models: dict[str, list[str]] = field(default_factory=dict)  # role -> models compared
    # subject (a model, or a quantity of a role such as the noise curve) -> metric -> estimate
    estimates: dict[str, dict[str, Estimate]] = field(default_factory=dict)
    primary: list[str] = field(default_factory=list)  # subjects whose ``metric`` is the claim's
    reference: str | None = None  # the subject they are compared with on ``metric``
    checks: dict[str, dict[str, str]] = field(default_factory=dict)  # subject -> metric -> verdict
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict {self.verdict!r} not in {VERDICTS}")

    def record(self) -> dict[str, Any]:
        """The JSON form (``summary.json`` flattens it to ``claims.<id>.verdict`` etc.; a NaN
        is dropped there, so an estimate without an interval has no ``ci``)."""
        return {
            "number": self.number, "statement": self.statement, "verdict": self.verdict,
            "metric": self.metric, "rule": self.rule, "note": self.note, "models": self.models,
            "primary": self.primary, "reference": self.reference, "checks": self.checks,
            "estimates": {subject: {m: {"mean": e.mean, "ci": e.ci} for m, e in per.items()}
                          for subject, per in self.estimates.items()},
        }

    def headline(self) -> str:
        """The primary estimates against the reference, e.g. ``rare_accuracy: a 0.5 vs b 0.9``."""
        if not self.primary:
            return "—"
        parts = ", ".join(f"{s} {self.estimates[s][self.metric]}" for s in self.primary)
        if self.reference is not None:
            parts += f" vs {self.reference} {self.estimates[self.reference][self.metric]}"
        return f"`{self.metric}`: {parts}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def glance_table(claims: Iterable[Claim]) -> str:
    """The "Claims at a glance" table: one row per record, in science.md's order."""
    lines = ["## Claims at a glance\n",
             "Verdicts on the claims of science.md section 7 (supported / refuted / "
             "inconclusive); estimates are means ± t-interval half-widths over seeds. The same "
             "records are in `summary.json` under `claims`; the sections below give every "
             "number they rest on.\n",
             "| # | claim | verdict | primary estimate | rule |", "|---|---|---|---|---|"]
    lines += [f"| {c.number} | `{c.id}`: {_cell(c.statement)} | **{c.verdict}** | "
              f"{_cell(c.headline())} | {_cell(c.rule)} |"
              for c in sorted(claims, key=lambda c: c.number)]
    return "\n".join(lines) + "\n"


def claim_markdown(claim: Claim, labels: Mapping[str, str]) -> str:
    """A claim's detail: verdict, a table of its estimates (each check next to the estimate
    it judges), the rule and the note. ``labels`` names the metrics."""
    text = [f"**Claim {claim.number}** (`{claim.id}`): {claim.statement} "
            f"Verdict: **{claim.verdict}**.\n"]
    if claim.estimates:
        role_of = {m: role for role, models in claim.models.items() for m in models}
        metrics = list(dict.fromkeys(m for per in claim.estimates.values() for m in per))
        header = ["model", "role", *(labels.get(m, m) for m in metrics)]
        text += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for subject, per in claim.estimates.items():
            cells = [subject, role_of.get(subject, "—")]
            for m in metrics:
                check = claim.checks.get(subject, {}).get(m)
                cells.append(f"{per[m]}" + (f" ({check})" if check else "") if m in per else "")
            text.append("| " + " | ".join(cells) + " |")
        text.append("")
    text.append(f"Rule: {claim.rule}." + (f" {claim.note}" if claim.note else "") + "\n")
    return "\n".join(text)


def role_rows(table: pd.DataFrame, role: str) -> pd.DataFrame:
    """The rows of ``table`` (with the columns of ``robsens.report.tables.with_roles``) that
    play ``role``, along their curve for the curve roles (stable, so otherwise in params
    order)."""
    return table[table["role"] == role].sort_values("curve", kind="stable")


def unchecked(claim: Claim, table: pd.DataFrame, *roles: str) -> Claim:
    """``claim`` left inconclusive because no model of ``table`` plays some of ``roles``."""
    found = {r: list(role_rows(table, r)["model"]) for r in roles}
    absent = ", ".join(r for r, models in found.items() if not models)
    return replace(claim, verdict=INCONCLUSIVE, models={r: ms for r, ms in found.items() if ms},
                   note=f"Not checked: no model with role {absent} was evaluated.")


LINEAR_SOURCES = {  # source -> (qualifier of the statement, rule): see robsens.linear.claims
    "population": ("population optimum", "exact population optimum; zeros checked as zeros up "
                   "to linear.verdict.zero_tol"),
    "finite": ("finite samples", "each finite-sample fit compared with the eps = 0 fit of the "
               "same sample, judged at the largest n (the others in the note)"),
}


def linear_claims(path: Path = paths.LINEAR_SUMMARY) -> list[Claim]:
    """The linear study's verdicts (claim 5: the statements of science.md section 6) as
    records, one per statement and source; a statement about an attack norm the sweep left
    out is inconclusive."""
    word = {True: SUPPORTED, False: REFUTED, None: INCONCLUSIVE}
    return [
        Claim(id=f"linear_{c['id']}_{source}", number=5, statement=f"{c['statement']} ({where})",
              rule=rule, verdict=word[c[source]["supported"]], note=c[source]["evidence"] + ".")
        for c in load_json(path)["claims"]
        for source, (where, rule) in LINEAR_SOURCES.items()
    ]
