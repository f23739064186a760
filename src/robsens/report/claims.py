"""Claims: the verdicts on science.md section 7, decided from the endpoints params.yaml declares.

Each claim under ``claims.endpoints`` names its primary endpoint(s): a metric, the models
compared by their role (``robsens.methods.ROLES``, never by name), the expected direction
and the smallest effect that matters. Every comparison is *paired*: the methods share each
seed's initialisation and batch order with the baseline, so the per-seed difference
subject - reference removes the seed's luck that an unpaired comparison of means carries.
The differences get an interval over seeds (t, or a percentile bootstrap) and the
comparisons of one claim are Holm-corrected together (:func:`robsens.core.stats.holm_intervals`).

A claim is ``supported`` when every primary comparison is significant on the claimed side
with an estimate at least the smallest effect that matters, ``refuted`` when any is
significant on the other side, ``inconclusive`` otherwise; an inconclusive claim states how
many seeds the observed spread would need to decide it. Secondary metrics are reported with
mean ± t-interval per model and do not vote. The linear study's verdicts (exact population
optima and finite-sample fits, :mod:`robsens.linear.claims`) join the same records.

The records go into ``reports/summary.json`` under ``claims.<id>`` and are rendered as the
"Claims at a glance" table that opens results.md and the per-claim details after it, never
recomputed from the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robsens.core.io import load_json
from robsens.core.stats import (
    Interval,
    decide,
    fmt_ci,
    holm_intervals,
    mean_ci,
    paired_bootstrap,
    paired_differences,
    paired_t,
    per_image,
    seeds_needed,
)
from robsens.pipeline import paths
from robsens.robustness.claims import UNDEFINED_WHY

SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"
VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE)


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds and the half-width of its t-interval (NaN: no interval)."""

    mean: float
    ci: float = math.nan

    def __str__(self) -> str:
        return fmt_ci(self.mean, self.ci)


@dataclass(frozen=True)
class Comparison:
    """One primary comparison: subject - reference on ``metric``, paired by seed (against 0
    when the endpoint has no reference), at its Holm level."""

    metric: str
    subject: str
    reference: str | None
    direction: str  # "higher" | "lower": the claimed sign of subject - reference
    min_effect: float
    interval: Interval  # the voting one, at its Holm level
    rejected: bool  # the Holm step-down rejected "no difference"
    verdict: str
    seeds_needed: int | None  # inconclusive: seeds the observed spread needs to decide
    unit: str = "seeds"  # what the voting interval pairs: seeds, or images within each seed
    other: Interval | None = None  # the other unit's interval (nominal level), reported only

    @property
    def label(self) -> str:
        return self.subject if self.reference is None else f"{self.subject} − {self.reference}"

    def __str__(self) -> str:
        i = self.interval
        if math.isnan(i.estimate):
            return f"{self.label}: n/a"
        bounds = "" if math.isnan(i.low) else f" [{i.low:+.3f}, {i.high:+.3f}]"
        return f"{self.label}: {i.estimate:+.3f}{bounds}"

    def record(self) -> dict[str, Any]:
        """The JSON form; NaN (no interval) becomes null."""
        record = {"metric": self.metric, "subject": self.subject,
                  "reference": self.reference, "direction": self.direction,
                  "min_effect": self.min_effect, "verdict": self.verdict,
                  "rejected": self.rejected,
                  "seeds_needed": self.seeds_needed, "unit": self.unit,
                  **self.interval.as_dict()}
        if self.other is not None:
            record["other_unit"] = _no_nan(self.other.as_dict())
        return _no_nan(record)


def _no_nan(record: dict[str, Any]) -> dict[str, Any]:
    """NaN (no interval) as null: JSON has no NaN."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}


@dataclass(frozen=True)
class Claim:
    """One claim's verdict with everything it rests on."""

    id: str
    number: int  # the claim's number in science.md section 7
    statement: str
    rule: str  # the decision rule applied, in words
    verdict: str = INCONCLUSIVE  # one of VERDICTS
    comparisons: list[Comparison] = field(default_factory=list)
    models: dict[str, list[str]] = field(default_factory=dict)  # role -> models compared
    secondary: dict[str, dict[str, Estimate]] = field(default_factory=dict)  # metric -> model
    seeds_needed: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict {self.verdict!r} not in {VERDICTS}")

    @property
    def primary(self) -> Comparison | None:
        """The headline comparison: the one that refutes the claim (the strongest such) if
        any does, else the weakest link (the largest p-value) of the others."""
        if not self.comparisons:
            return None
        refuting = [c for c in self.comparisons if c.verdict == REFUTED]
        if refuting:
            return min(refuting, key=lambda c: c.interval.p_value)
        return max(self.comparisons, key=lambda c: np.nan_to_num(c.interval.p_value, nan=2.0))

    def record(self) -> dict[str, Any]:
        """The JSON form (``summary.json`` flattens it to ``claims.<id>.verdict`` etc.)."""
        head = self.primary
        return {
            "number": self.number, "statement": self.statement, "verdict": self.verdict,
            "rule": self.rule, "note": self.note, "models": self.models,
            "seeds_needed": self.seeds_needed,
            "primary": None if head is None else head.record(),
            "comparisons": [c.record() for c in self.comparisons],
            "secondary": {metric: {m: {"mean": e.mean, "ci": e.ci} for m, e in per.items()}
                          for metric, per in self.secondary.items()},
        }


# --- deciding ---------------------------------------------------------------------------

def role_models(table: pd.DataFrame, role: str) -> list[str]:
    """The models of ``table`` (columns of ``robsens.report.tables.with_roles``) that play
    ``role``, along their curve for the curve roles (stable, so otherwise in params order)."""
    rows = table[table["role"] == role].drop_duplicates("model").sort_values("curve",
                                                                             kind="stable")
    return list(rows["model"])


def picked(table: pd.DataFrame, models: list[str], pick: str) -> list[str]:
    """``models`` (in curve order) reduced by an endpoint's ``pick``: ``last`` / ``first`` take
    the furthest / nearest model of each curve, a curve being one attack norm (the l_inf and
    l_2 adversarial curves are read separately), so "the strongest" never compares radii of
    different norms."""
    if pick == "all":
        return models
    norms = table.drop_duplicates("model").set_index("model")["norm"]
    curves: dict[object, list[str]] = {}
    for model in models:
        norm = norms.get(model)
        curves.setdefault(norm if isinstance(norm, str) else None, []).append(model)
    return [ms[-1] if pick == "last" else ms[0] for ms in curves.values()]


def _per_seed(table: pd.DataFrame, model: str, metric: str) -> dict[int, float]:
    rows = table[table["model"] == model]
    return dict(zip(rows["seed"].astype(int), rows[metric].astype(float), strict=True))


def _per_image(table: pd.DataFrame, model: str, metric: str) -> dict[int, np.ndarray]:
    rows = table[table["model"] == model]
    return {int(seed): np.asarray(scores[metric], dtype=float)
            for seed, scores in zip(rows["seed"], rows.get("per_image", [{}] * len(rows)),
                                    strict=True)
            if metric in scores}


def _image_pairs(table: pd.DataFrame, metric: str, subject: str, reference: str | None
                 ) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """Per seed both models have them, the per-image outcomes of ``metric`` (the same test
    images in the same order for every model); None where none are stored."""
    if reference is None:
        return None
    a, b = _per_image(table, subject, metric), _per_image(table, reference, metric)
    seeds = sorted(set(a) & set(b))
    return ([a[s] for s in seeds], [b[s] for s in seeds]) if seeds else None


def _interval_of(settings: Mapping[str, Any]) -> Callable[[Any, float], Interval]:
    """The interval of one comparison's data: per-seed differences (t or bootstrap), or
    per-image outcome pairs (a tuple, :func:`robsens.core.stats.per_image`)."""
    boot = settings["bootstrap"]
    seeds = (partial(paired_bootstrap, resamples=boot["resamples"], seed=boot["seed"])
             if settings["interval"] == "bootstrap" else paired_t)

    def interval(data: Any, level: float) -> Interval:
        return per_image(*data, level) if isinstance(data, tuple) else seeds(data, level)

    return interval


def _roles_of(endpoint: Mapping[str, Any]) -> list[str]:
    ref = endpoint.get("reference") or []
    return [endpoint["subject"], *([ref] if isinstance(ref, str) else ref)]


def rule_text(spec: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """The decision rule of one claim, in words, from its declaration."""
    parts = []
    for e in spec["primary"]:
        ref = e.get("reference")
        refs = " / ".join([ref] if isinstance(ref, str) else ref) if ref else None
        pick = {"all": "each", "last": "the last along each curve (per norm) of",
                "first": "the first along each curve (per norm) of"}[e.get("pick", "all")]
        against = f"minus each {refs} model" if refs else "against 0"
        parts.append(f"`{e['metric']}` of {pick} {e['subject']} model {against}, expected "
                     f"{e['direction']} by at least {e['min_effect']:g}")
    method = ("percentile bootstrap" if settings["interval"] == "bootstrap" else "t")
    return (f"paired per seed: {'; '.join(parts)}. {settings['level']:.0%} {method} intervals "
            "over seeds, Holm-corrected across the claim's comparisons; supported if every "
            "comparison is significant on the expected side with at least that effect, refuted "
            "if any is significant on the other side, inconclusive otherwise")


def decide_claim(claim_id: str, spec: Mapping[str, Any], table: pd.DataFrame,
                 settings: Mapping[str, Any]) -> Claim:
    """One claim's record from the per-seed table (one row per model x seed, a column per
    metric, the role columns of ``with_roles``) and its declaration ``spec``."""
    claim = Claim(claim_id, spec["number"], spec["statement"], rule_text(spec, settings))
    roles = dict.fromkeys(r for e in spec["primary"] for r in _roles_of(e))
    models = {r: role_models(table, r) for r in roles}
    if absent := [r for r, ms in models.items() if not ms]:
        return replace(claim, models={r: ms for r, ms in models.items() if ms},
                        note=f"Not checked: no model with role {', '.join(absent)} was "
                             "evaluated.")
    if missing := sorted({e["metric"] for e in spec["primary"]} - set(table.columns)):
        return replace(claim, models=models,
                        note=f"Not checked: metric {', '.join(missing)} was not computed.")
    pairs = []  # (endpoint, subject, reference)
    for e in spec["primary"]:
        subjects = picked(table, _evaluated(table, models[e["subject"]], e["metric"]),
                          e.get("pick", "all"))
        references = [m for r in _roles_of(e)[1:]
                      for m in _evaluated(table, models[r], e["metric"])]
        if not subjects or (_roles_of(e)[1:] and not references):
            return replace(claim, models=models,
                           note=f"Not checked: no {' or '.join(_roles_of(e))} model was "
                                f"evaluated on `{e['metric']}`.")
        pairs += [(e, s, r) for s in subjects for r in references or [None] if s != r]
    diffs = [paired_differences(_per_seed(table, s, e["metric"]), _per_seed(table, r,
                                                                            e["metric"]))
             if r else _finite(_per_seed(table, s, e["metric"]))
             for e, s, r in pairs]
    images = [_image_pairs(table, e["metric"], s, r) for e, s, r in pairs]
    if lacking := sorted({e["metric"] for (e, _, _), i in zip(pairs, images, strict=True)
                          if e.get("unit") == "images" and i is None}):
        return replace(claim, models=models,
                       note=f"Not checked: no per-image outcomes of {', '.join(lacking)} "
                            "(declare unit: seeds for it).")
    voting = [i if e.get("unit") == "images" else d
              for (e, _, _), d, i in zip(pairs, diffs, images, strict=True)]
    level, interval_of = settings["level"], _interval_of(settings)
    tested = holm_intervals(voting, level, interval=interval_of)
    planning_level = 1 - (1 - level) / len(pairs)  # Bonferroni: conservative for planning
    comparisons = []
    for (e, s, r), d, i, (interval, rejected) in zip(pairs, diffs, images, tested, strict=True):
        unit = e.get("unit", "seeds")
        verdict = decide(interval, e["direction"], e["min_effect"], rejected)
        needed = None
        if verdict == INCONCLUSIVE and unit == "seeds" and len(d) >= 2:
            effect = max(abs(interval.estimate), e["min_effect"])
            needed = seeds_needed(float(np.std(d, ddof=1)), effect, planning_level)
        other = interval_of(d if unit == "images" else i, level) if i is not None else None
        comparisons.append(Comparison(e["metric"], s, r, e["direction"], e["min_effect"],
                                      interval, rejected, verdict, needed, unit, other))
    found = [c.verdict for c in comparisons]
    verdict = (REFUTED if REFUTED in found else
               SUPPORTED if all(v == SUPPORTED for v in found) else INCONCLUSIVE)
    undecided = [c.seeds_needed for c in comparisons if c.verdict == INCONCLUSIVE]
    needed = (max((n for n in undecided if n is not None), default=None)
              if verdict == INCONCLUSIVE and None not in undecided else None)
    involved = list(dict.fromkeys(m for _, s, r in pairs for m in (s, r) if m))
    secondary = {metric: {m: Estimate(*mean_ci(pd.Series(_per_seed(table, m, metric)), level))
                          for m in involved}
                 for metric in [*dict.fromkeys(e["metric"] for e in spec["primary"]),
                                *spec.get("secondary", [])] if metric in table.columns}
    seeds = len(table["seed"].unique())
    note = " ".join(filter(None, [_undefined_note(comparisons, seeds),
                                  _seeds_note(verdict, undecided, needed, seeds)]))
    return replace(claim, verdict=verdict, comparisons=comparisons, models=models,
                    secondary=secondary, seeds_needed=needed, note=note)


def _evaluated(table: pd.DataFrame, models: list[str], metric: str) -> list[str]:
    """The ``models`` with a value of ``metric`` for some seed: a metric of one image study
    (the spurious-background study trains only ``spurious.models``) compares only the
    models evaluated on it. A derived metric that can be undefined (``UNDEFINED_WHY``) keeps
    every model: its comparisons say why they have no value."""
    if metric in UNDEFINED_WHY:
        return models
    has = set(table.loc[table[metric].notna(), "model"])
    return [m for m in models if m in has]


def _finite(per_seed: Mapping[int, float]) -> np.ndarray:
    values = np.array([per_seed[s] for s in sorted(per_seed)], dtype=float)
    return values[np.isfinite(values)]


def _undefined_note(comparisons: list[Comparison], seeds: int) -> str:
    """Which comparisons have fewer than 2 seeds with a value, and why the metric is
    undefined for the others where its slice says."""
    short = [c for c in comparisons if c.interval.n < 2]
    return " ".join(f"{c.label}: `{c.metric}` is defined for {c.interval.n} of {seeds} seeds"
                    + (f" (undefined where {UNDEFINED_WHY[c.metric]})."
                       if c.metric in UNDEFINED_WHY else ".") for c in short)


def _seeds_note(verdict: str, undecided: list[int | None], needed: int | None,
                seeds: int) -> str:
    if verdict != INCONCLUSIVE:
        return ""
    if needed is not None:
        return (f"With the spread observed over {seeds} seeds, about {needed} seeds would "
                "decide it (an interval that excludes 0 at the observed effect, or at the "
                "smallest effect that matters if the observed one is smaller).")
    return ("The observed spread leaves it undecided even at 1000 seeds, or a comparison "
            "has fewer than 2 seeds with a value." if undecided else "")


def decide_claims(params: Mapping[str, Any], table: pd.DataFrame) -> list[Claim]:
    """Every claim declared in ``params['claims']``: the image-study ones from ``table``, the
    linear study's from its summary."""
    settings = params["claims"]
    records: list[Claim] = []
    for claim_id, spec in settings["endpoints"].items():
        if spec.get("source") == "linear":
            records += linear_claims(spec["number"])
        else:
            records.append(decide_claim(claim_id, spec, table, settings))
    return records


# --- rendering ---------------------------------------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def glance_table(claims: Iterable[Claim]) -> str:
    """The "Claims at a glance" table: one row per record, in science.md's order."""
    lines = ["## Claims at a glance\n",
             "Verdicts on the claims of science.md section 7, each decided by the primary "
             "endpoint params.yaml declares for it (`claims:`): paired per-seed differences "
             "against the reference model, an interval over seeds, Holm-corrected within the "
             "claim. The headline is the claim's weakest comparison. The same records are in "
             "`summary.json` under `claims`; the details follow.\n",
             "| # | claim | verdict | primary endpoint: paired difference [interval] | "
             "seeds to decide |", "|---|---|---|---|---|"]
    for c in sorted(claims, key=lambda c: c.number):
        head = c.primary
        headline = f"`{head.metric}`: {head}" if head else "—"
        seeds = "—" if c.verdict != INCONCLUSIVE else (
            str(c.seeds_needed) if c.seeds_needed else "not reachable")
        lines.append(f"| {c.number} | `{c.id}`: {_cell(c.statement)} | **{c.verdict}** | "
                     f"{_cell(headline)} | {seeds} |")
    return "\n".join(lines) + "\n"


def claim_markdown(claim: Claim, labels: Mapping[str, str] | None = None) -> str:
    """A claim's detail: verdict, its comparisons, the secondary metrics, rule and note."""
    labels = labels or {}
    text = [f"**Claim {claim.number}** (`{claim.id}`): {claim.statement} "
            f"Verdict: **{claim.verdict}**.\n"]
    if claim.comparisons:
        text += ["| comparison | metric | expected | unit | difference | interval (Holm level) "
                 "| p (raw) | n | verdict | other unit, not voting: interval (level) |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for c in claim.comparisons:
            i = c.interval
            other = "—" if c.other is None else (
                f"{c.other.method}: {_bounds(c.other)}")
            text.append(f"| {c.label} | `{c.metric}` | {c.direction} by ≥ {c.min_effect:g} | "
                        f"{c.unit} | {i.estimate:+.4f} | {_bounds(i)} | {i.p_value:.3g} | "
                        f"{i.n} | {c.verdict} | {other} |")
        text += ["", "Unit `seeds`: the per-seed differences (n seeds); `images`: the "
                 "per-image paired differences within each seed, pooled over seeds (n seeds; "
                 "conditional on the trained models, so it counts the test images but not "
                 "the training luck).\n"]
    if claim.secondary:
        role_of = {m: role for role, ms in claim.models.items() for m in ms}
        models = list(dict.fromkeys(m for per in claim.secondary.values() for m in per))
        metrics = list(claim.secondary)
        text += ["Mean ± t-interval over seeds (secondary metrics do not vote):\n",
                 "| model | role | " + " | ".join(labels.get(m, f"`{m}`") for m in metrics)
                 + " |", "|" + "---|" * (len(metrics) + 2)]
        text += [f"| {m} | {role_of.get(m, '—')} | "
                 + " | ".join(str(claim.secondary[k].get(m, "")) for k in metrics) + " |"
                 for m in models]
        text.append("")
    text.append(f"Rule: {claim.rule}." + (f" {claim.note}" if claim.note else "") + "\n")
    return "\n".join(text)


def _bounds(i: Interval) -> str:
    return "n/a" if math.isnan(i.low) else f"[{i.low:+.4f}, {i.high:+.4f}] ({i.level:.3g})"


def claims_section(claims: Iterable[Claim]) -> str:
    """The per-claim details, after the glance table."""
    return "\n".join(["## Claims in detail\n",
                      *(claim_markdown(c) for c in sorted(claims, key=lambda c: c.number))])


LINEAR_SOURCES = {  # source -> (qualifier of the statement, rule): see robsens.linear.claims
    "population": ("population optimum", "exact population optimum; zeros checked as zeros up "
                   "to linear.verdict.zero_tol"),
    "finite": ("finite samples", "each finite-sample fit compared with the eps = 0 fit of the "
               "same sample, judged at the largest n (the others in the note)"),
}


def linear_claims(number: int = 5, path: Path = paths.LINEAR_SUMMARY) -> list[Claim]:
    """The linear study's verdicts (the statements of science.md section 6) as records, one
    per statement and source; a statement about an attack norm the sweep left out is
    inconclusive."""
    word = {True: SUPPORTED, False: REFUTED, None: INCONCLUSIVE}
    return [
        Claim(id=f"linear_{c['id']}_{source}", number=number,
              statement=f"{c['statement']} ({where})", rule=rule,
              verdict=word[c[source]["supported"]], note=c[source]["evidence"] + ".")
        for c in load_json(path)["claims"]
        for source, (where, rule) in LINEAR_SOURCES.items()
    ]
