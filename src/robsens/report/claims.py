"""Claims: the verdicts on docs/science.md section 7, decided from the endpoints params declares.

Each claim under ``claims.endpoints`` names its primary endpoint(s): a metric, the models
compared by their role (``robsens.methods.ROLES``, never by name), the expected direction
and the smallest effect that matters. Every comparison is *paired*: the methods share each
seed's initialisation and batch order with the baseline, so the per-seed difference
subject - reference removes the seed's luck that an unpaired comparison of means carries.
The differences get an interval over seeds (t, or a percentile bootstrap) and the
comparisons of one claim are Holm-corrected together (:func:`robsens.core.stats.holm_intervals`).

Each comparison is decided against the smallest effect that matters
(:func:`robsens.core.stats.decide`), its interval oriented so the expected direction is
positive: refuted when significant in the opposite direction, refuted when the whole interval
lies below that effect (too small to matter), supported when significant with an estimate at
least that effect, inconclusive while the interval still contains it. A comparison that uses
a model which failed a training gate at any seed (the per-seed table's ``gates`` and
``spurious_gates`` columns, :func:`gate_failures`) decides nothing: inconclusive, "gated".
A claim is refuted if any comparison is refuted, supported if all are supported,
inconclusive otherwise (``combine: dominance`` groups the comparisons per model compared
with, one per axis, :func:`_dominance`); an inconclusive claim states how many seeds the
observed spread would need to decide an effect of the smallest size that matters.

A claim may declare ``fallbacks``: endpoints tried in order when the primary ones cannot be
read at every seed (claim 2's comparison with the noise curve at equal robustness is
undefined where FCL lies beyond the curve). The first option defined at every seed decides
(:func:`_choose`) and the record names it.

A claim may declare a ``control`` (docs/science.md section 9): its primary endpoints read with a
model built to have the effect (``subject``, e.g. FCL with an oracle H) against a ``reference``
role, Holm-corrected among themselves, decided and gated like the claim's own
(:func:`_control`). An instrument that such a model does not move cannot decide the claim: it
is then inconclusive whatever its comparisons say (they are still computed and shown). A study
without a model of the control role decides the claim as usual and says the instrument is not
shown to move.

Secondary metrics are reported with mean ± t-interval per model and do not vote. The linear
study's verdicts (exact population optima and finite-sample fits, :mod:`robsens.linear.claims`)
join the same records.

The records go into ``reports/summary.json`` under ``claims.<id>`` and are rendered as the
"Claims at a glance" table that opens results.md and the per-claim details after it, never
recomputed from the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robsens.core.io import load_json
from robsens.core.stats import (
    LARGE_ENOUGH,
    NO_INTERVAL,
    OPEN,
    OPPOSITE,
    TOO_SMALL,
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
from robsens.robustness.claims import CURVE_METRICS, CURVE_ROLES, UNDEFINED_WHY

SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"
VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE)
# the per-seed table's gate columns: "" where the model passed every gate at that seed, else
# its failures joined by "; " (a missing column or a NaN cell passes)
GATES, SPURIOUS_GATES = "gates", "spurious_gates"
GATED = "gated"


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
    reason: str  # why the verdict: a reason of robsens.core.stats.decide, or "gated: ..."
    seeds_needed: int | None  # inconclusive, not gated: seeds to decide an effect of min_effect
    unit: str = "seeds"  # what the voting interval pairs: seeds, or images within each seed
    other: Interval | None = None  # the other unit's interval (nominal level), reported only
    gated_by: tuple[str, ...] = ()  # "<model> seed <s>: <failure>" of the models it uses

    @property
    def label(self) -> str:
        return self.subject if self.reference is None else f"{self.subject} − {self.reference}"

    def __str__(self) -> str:
        i = self.interval
        if math.isnan(i.estimate):
            return f"{self.label}: n/a"
        bounds = "" if math.isnan(i.low) else f" [{i.low:+.3f}, {i.high:+.3f}]"
        return f"{self.label}: {i.estimate:+.3f}{bounds}"

    @property
    def numbers(self) -> str:
        """``<label> <metric> <estimate> [<interval>]``: what a one-line reason quotes."""
        return f"{self.label} {self.metric} {str(self).partition(': ')[2]}"

    def summary(self) -> str:
        """Why this comparison came out as it did, in one line with its numbers (the interval
        as measured, the bound it was held against signed like it)."""
        i, higher = self.interval, self.direction == "higher"
        bound = self.min_effect if higher else -self.min_effect
        if self.gated_by:
            return self.reason
        if self.reason == NO_INTERVAL:
            return (f"no interval: {self.label} {self.metric} has a value at {i.n} seed"
                    f"{'' if i.n == 1 else 's'}")
        numbers = self.numbers
        return {
            OPPOSITE: f"opposite direction: {numbers}, expected {self.direction}",
            TOO_SMALL: f"too small to matter: {numbers} {'<' if higher else '>'} {bound:g}",
            LARGE_ENOUGH: f"large enough: {numbers}, estimate {'≥' if higher else '≤'} "
                          f"{bound:g}",
            OPEN: f"interval contains {bound:g}: {numbers}",
        }[self.reason]

    def record(self) -> dict[str, Any]:
        """The JSON form; NaN (no interval) becomes null."""
        record = {"metric": self.metric, "subject": self.subject,
                  "reference": self.reference, "direction": self.direction,
                  "min_effect": self.min_effect, "verdict": self.verdict,
                  "reason": self.reason, "rejected": self.rejected,
                  "seeds_needed": self.seeds_needed, "unit": self.unit,
                  "gated_by": list(self.gated_by), **self.interval.as_dict()}
        if self.other is not None:
            record["other_unit"] = _no_nan(self.other.as_dict())
        return _no_nan(record)


def _no_nan(record: dict[str, Any]) -> dict[str, Any]:
    """NaN (no interval) as null: JSON has no NaN."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}


# what a claim's control showed (docs/science.md section 9, :func:`_control`)
MOVED, NOT_MOVED, ABSENT = "moved", "did not move", "no control model"
NO_CONTROL = "no control model in this study: the instrument is not shown to move"


@dataclass(frozen=True)
class Control:
    """A claim's control: its primary endpoints read with a model built to have the effect as
    the subject. An instrument that such a model does not move cannot tell a method with the
    effect from one without it, so the claim's verdict waits on it."""

    subject: str  # the control's role (a key of robsens.methods.ROLES)
    reference: str  # the role it is compared with
    outcome: str  # MOVED | NOT_MOVED | ABSENT
    summary: str  # the outcome in one line, with its numbers
    comparisons: list[Comparison] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The JSON form, under the claim's ``control``."""
        return {"subject": self.subject, "reference": self.reference, "outcome": self.outcome,
                "summary": self.summary, "comparisons": [c.record() for c in self.comparisons]}


@dataclass(frozen=True)
class Claim:
    """One claim's verdict with everything it rests on."""

    id: str
    number: int  # the claim's number in docs/science.md section 7
    statement: str
    rule: str  # the decision rule applied, in words
    verdict: str = INCONCLUSIVE  # one of VERDICTS
    comparisons: list[Comparison] = field(default_factory=list)
    models: dict[str, list[str]] = field(default_factory=dict)  # role -> models compared
    secondary: dict[str, dict[str, Estimate]] = field(default_factory=dict)  # metric -> model
    seeds_needed: int | None = None
    note: str = ""
    reason: str = ""  # the verdict's reason in one line (the glance table's)
    fallback: str | None = None  # the declared fallback that decided; None: the primary
    primary: Comparison | None = None  # the headline: the comparison that decided
    control: Control | None = None  # None: the claim declares no control

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict {self.verdict!r} not in {VERDICTS}")

    @property
    def gated(self) -> bool:
        """Some comparison used a model that failed a training gate."""
        return any(c.gated_by for c in self.comparisons)

    @property
    def held(self) -> bool:
        """Its control did not move the instrument: inconclusive whatever its comparisons say."""
        return self.control is not None and self.control.outcome == NOT_MOVED

    def record(self) -> dict[str, Any]:
        """The JSON form (``summary.json`` flattens it to ``claims.<id>.verdict`` etc.)."""
        head = self.primary
        return {
            "number": self.number, "statement": self.statement, "verdict": self.verdict,
            "reason": self.reason, "fallback": self.fallback,
            "rule": self.rule, "note": self.note, "models": self.models,
            "seeds_needed": self.seeds_needed,
            "primary": None if head is None else head.record(),
            "comparisons": [c.record() for c in self.comparisons],
            "control": None if self.control is None else self.control.record(),
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


def gate_column(metric: str) -> str:
    """The gate column that guards ``metric``: a model is trained once per study, so the
    spurious-background study's metrics (named ``spurious_*``) rest on its own training."""
    return SPURIOUS_GATES if metric.startswith("spurious_") else GATES


def gate_failures(table: pd.DataFrame, models: Iterable[str], metric: str) -> list[str]:
    """``"<model> seed <s>: <failure>"`` for every gate failure of ``models`` at any seed of
    ``table`` in the column guarding ``metric`` (models in the given order, seeds ascending):
    a model that did not train properly measures nothing about its method. An absent column
    (a table from before the gates) or an empty / NaN cell passes."""
    column = gate_column(metric)
    if column not in table.columns:
        return []
    failures = []
    for model in models:
        rows = table[table["model"] == model].sort_values("seed")
        for seed, flags in zip(rows["seed"], rows[column], strict=True):
            if isinstance(flags, str) and flags:
                failures += [f"{model} seed {int(seed)}: {f}" for f in flags.split("; ")]
    return failures


def _used_models(table: pd.DataFrame, metric: str, subject: str, reference: str | None
                 ) -> list[str]:
    """The models a comparison's values rest on: its two, and for a metric read on the noise
    curve (``CURVE_METRICS``) the models that draw that curve."""
    curve = [m for role in CURVE_ROLES for m in role_models(table, role)
             ] if metric in CURVE_METRICS else []
    return list(dict.fromkeys([subject, *([reference] if reference else []), *curve]))


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


COMPARISON_RULE = (
    "each comparison, its interval oriented so that the expected direction is positive, is "
    "refuted if significant in the opposite direction, refuted if the whole interval lies "
    "below the smallest effect that matters (too small to matter, significant or not), "
    "supported if significant with an estimate at least that effect, and inconclusive while "
    "the interval still contains it; a comparison resting on a model that failed a training "
    "gate at any seed (`gates`, or `spurious_gates` for a spurious_* metric) is inconclusive "
    "(gated)")
COMBINE_RULES = {
    "all": "the claim is refuted if any comparison is refuted, supported if all are "
           "supported, inconclusive otherwise",
    "dominance": "against each model compared with (one comparison per axis), the subject is "
                 "supported if supported on at least one axis and significantly worse "
                 "(refuted, opposite direction) on none, refuted if significantly worse on any "
                 "axis or refuted on every axis, inconclusive otherwise or if any axis is "
                 "gated; the claim is supported if supported against every model, refuted if "
                 "refuted against any, inconclusive otherwise",
}


def _endpoints_text(option: Mapping[str, Any]) -> str:
    parts = []
    for e in option["primary"]:
        ref = e.get("reference")
        refs = " / ".join([ref] if isinstance(ref, str) else ref) if ref else None
        pick = {"all": "each", "last": "the last along each curve (per norm) of",
                "first": "the first along each curve (per norm) of"}[e.get("pick", "all")]
        against = f"minus each {refs} model" if refs else "against 0"
        parts.append(f"`{e['metric']}` of {pick} {e['subject']} model {against}, expected "
                     f"{e['direction']} by at least {e['min_effect']:g}")
    return "; ".join(parts)


def rule_text(spec: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """The decision rule of one claim, in words, from its declaration."""
    method = ("percentile bootstrap" if settings["interval"] == "bootstrap" else "t")
    text = f"paired per seed: {_endpoints_text(spec)}; {COMBINE_RULES[spec.get('combine', 'all')]}"
    fallbacks = spec.get("fallbacks", [])
    for k, f in enumerate(fallbacks, start=1):
        text += (f". Fallback {k} (`{f['name']}`): {_endpoints_text(f)}; "
                 f"{COMBINE_RULES[f.get('combine', 'all')]}")
    if fallbacks:
        text += (". The first of these options whose comparisons all have a value at every "
                 "seed decides (the last otherwise)")
    if "control" in spec:
        text += (f". Control: {_endpoints_text({'primary': _control_endpoints(spec)})}, "
                 "Holm-corrected among themselves and gated alike; unless every one is "
                 "supported the instrument cannot decide and the claim is inconclusive")
    return (f"{text}. {settings['level']:.0%} {method} intervals over seeds, Holm-corrected "
            f"across the deciding option's comparisons; {COMPARISON_RULE}")


@dataclass(frozen=True)
class _Plan:
    """One declared option of a claim (its primary endpoints, or a fallback) laid out on the
    table: the comparisons it expands to with their data, or why it cannot be checked."""

    name: str | None  # the fallback's name; None: the claim's own primary endpoints
    option: Mapping[str, Any]
    models: dict[str, list[str]]  # role -> models
    pairs: list[tuple[Mapping[str, Any], str, str | None]] = field(default_factory=list)
    diffs: list[np.ndarray] = field(default_factory=list)  # per pair: per-seed differences
    images: list[Any] = field(default_factory=list)  # per pair: per-image pairs or None
    note: str = ""  # why it cannot be checked ("" if it can)


def _plan(name: str | None, option: Mapping[str, Any], table: pd.DataFrame) -> _Plan:
    """The comparisons of ``option``: every picked subject model against every reference
    model (or against 0), with their per-seed differences and per-image outcomes."""
    roles = dict.fromkeys(r for e in option["primary"] for r in _roles_of(e))
    models = {r: role_models(table, r) for r in roles}
    if absent := [r for r, ms in models.items() if not ms]:
        return _Plan(name, option, {r: ms for r, ms in models.items() if ms},
                     note=f"no model with role {', '.join(absent)} was evaluated.")
    if missing := sorted({e["metric"] for e in option["primary"]} - set(table.columns)):
        return _Plan(name, option, models,
                     note=f"metric {', '.join(missing)} was not computed.")
    pairs = []  # (endpoint, subject, reference)
    for e in option["primary"]:
        subjects = picked(table, _evaluated(table, models[e["subject"]], e["metric"]),
                          e.get("pick", "all"))
        references = [m for r in _roles_of(e)[1:]
                      for m in _evaluated(table, models[r], e["metric"])]
        if not subjects or (_roles_of(e)[1:] and not references):
            return _Plan(name, option, models,
                         note=f"no {' or '.join(_roles_of(e))} model was evaluated on "
                              f"`{e['metric']}`.")
        pairs += [(e, s, r) for s in subjects for r in references or [None] if s != r]
    diffs = [paired_differences(_per_seed(table, s, e["metric"]), _per_seed(table, r,
                                                                            e["metric"]))
             if r else _finite(_per_seed(table, s, e["metric"]))
             for e, s, r in pairs]
    images = [_image_pairs(table, e["metric"], s, r) for e, s, r in pairs]
    if lacking := sorted({e["metric"] for (e, _, _), i in zip(pairs, images, strict=True)
                          if e.get("unit") == "images" and i is None}):
        return _Plan(name, option, models,
                     note=f"no per-image outcomes of {', '.join(lacking)} (declare unit: seeds "
                          "for it).")
    return _Plan(name, option, models, pairs, diffs, images)


def _undefined(plan: _Plan, table: pd.DataFrame) -> list[str]:
    """Where ``plan``'s comparisons lack a value: "`<metric>` of <model> at seed(s) ..." for
    every compared model without a finite value at some seed of the table."""
    seeds = sorted(int(s) for s in table["seed"].unique())
    gaps = []
    for e, s, r in plan.pairs:
        for model in (s, r) if r else (s,):
            values = _per_seed(table, model, e["metric"])
            if lacking := [x for x in seeds if not math.isfinite(values.get(x, math.nan))]:
                gaps.append(f"`{e['metric']}` of {model} at seed"
                            f"{'' if len(lacking) == 1 else 's'} "
                            f"{', '.join(map(str, lacking))}")
    return list(dict.fromkeys(gaps))


def _choose(spec: Mapping[str, Any], table: pd.DataFrame) -> tuple[_Plan, str]:
    """The option that decides the claim, and a note on the options passed over: the first of
    the claim's primary endpoints and its ``fallbacks``, in order, that can be checked and
    whose comparisons all have a value at every seed; else the last that can be checked
    (its comparisons then say where they have no value); else the primary's (not checked)."""
    plans = [_plan(None, spec, table),
             *(_plan(f["name"], f, table) for f in spec.get("fallbacks", []))]
    checkable = [p for p in plans if not p.note]
    chosen = next((p for p in checkable if not _undefined(p, table)),
                  checkable[-1] if checkable else plans[0])
    if chosen.name is None:
        return chosen, ""
    return chosen, (f"Fallback `{chosen.name}` decides, since "
                    + "; ".join(_passed_over(p, table) for p in plans[:plans.index(chosen)])
                    + ".")


def _passed_over(plan: _Plan, table: pd.DataFrame) -> str:
    """Why an option did not decide: it cannot be checked, or where it has no value."""
    what = "the primary endpoints" if plan.name is None else f"fallback `{plan.name}`"
    if plan.note:
        return f"{what}: {plan.note.rstrip('.')}"
    why = [f" (undefined where {UNDEFINED_WHY[m]})"
           for m in dict.fromkeys(e["metric"] for e in plan.option["primary"])
           if m in UNDEFINED_WHY]
    verb = "have" if plan.name is None else "has"
    return f"{what} {verb} no value of " + "; ".join(_undefined(plan, table)) + "".join(why)


def _compare(plan: _Plan, table: pd.DataFrame, settings: Mapping[str, Any]
             ) -> list[Comparison]:
    """The comparisons of ``plan``, Holm-corrected together and each decided; gated where a
    model it rests on failed a gate (the interval is still computed and shown)."""
    voting = [i if e.get("unit") == "images" else d
              for (e, _, _), d, i in zip(plan.pairs, plan.diffs, plan.images, strict=True)]
    level, interval_of = settings["level"], _interval_of(settings)
    tested = holm_intervals(voting, level, interval=interval_of)
    planning_level = 1 - (1 - level) / len(plan.pairs)  # Bonferroni: conservative for planning
    comparisons = []
    for (e, s, r), d, i, (interval, rejected) in zip(plan.pairs, plan.diffs, plan.images,
                                                     tested, strict=True):
        unit = e.get("unit", "seeds")
        verdict, reason = decide(interval, e["direction"], e["min_effect"], rejected)
        gated_by = tuple(gate_failures(table, _used_models(table, e["metric"], s, r),
                                       e["metric"]))
        if gated_by:
            verdict, reason = INCONCLUSIVE, f"{GATED}: " + "; ".join(gated_by)
        needed = None
        if verdict == INCONCLUSIVE and not gated_by and unit == "seeds" and len(d) >= 2:
            needed = seeds_needed(float(np.std(d, ddof=1)), e["min_effect"], planning_level)
        other = interval_of(d if unit == "images" else i, level) if i is not None else None
        comparisons.append(Comparison(e["metric"], s, r, e["direction"], e["min_effect"],
                                      interval, rejected, verdict, reason, needed, unit, other,
                                      gated_by))
    return comparisons


@dataclass(frozen=True)
class _Group:
    """Comparisons decided together: the whole claim (``combine: all``), or the axes against
    one model (``combine: dominance``)."""

    verdict: str
    headline: Comparison  # the comparison that decided it
    reason: str  # one line
    comparisons: list[Comparison]


def _p(c: Comparison) -> float:
    """The raw p-value, NaN (no test) ranked as the weakest."""
    return float(np.nan_to_num(c.interval.p_value, nan=2.0))


def _headline(comparisons: Sequence[Comparison], verdict: str) -> Comparison:
    """The comparison that decided ``verdict``: of those with that verdict, a refuting one in
    the opposite direction before one too small to matter, the strongest first; otherwise
    the weakest link (the largest p)."""
    same = [c for c in comparisons if c.verdict == verdict] or list(comparisons)
    if verdict == REFUTED:
        return min(same, key=lambda c: (c.reason != OPPOSITE, _p(c)))
    return max(same, key=_p)


def _all_of(verdicts: Sequence[str]) -> str:
    """Refuted if any is refuted, supported if all are supported, inconclusive otherwise."""
    return (REFUTED if REFUTED in verdicts else
            SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE)


def _gated_reason(comparisons: Iterable[Comparison]) -> str:
    return f"{GATED}: " + "; ".join(dict.fromkeys(g for c in comparisons for g in c.gated_by))


def _all(comparisons: list[Comparison]) -> list[_Group]:
    """``combine: all``: the claim is one group, decided by :func:`_all_of`."""
    verdict = _all_of([c.verdict for c in comparisons])
    head = _headline(comparisons, verdict)
    return [_Group(verdict, head, head.summary(), comparisons)]


def _dominance(comparisons: list[Comparison]) -> list[_Group]:
    """``combine: dominance``: a group per model compared with, one comparison per axis
    (:func:`_dominates`)."""
    groups: dict[tuple[str, str | None], list[Comparison]] = {}
    for c in comparisons:
        groups.setdefault((c.subject, c.reference), []).append(c)
    return [_dominates(axes) for axes in groups.values()]


def _dominates(axes: list[Comparison]) -> _Group:
    """Whether the subject is a better point than one model on a plane of several axes: it
    is when better by what matters on one axis and significantly worse on none, and is not
    when significantly worse on any axis or when no axis can gain what matters. A gated axis
    leaves it undecided, whatever the others say."""
    found = [c.verdict for c in axes]
    worse = [c for c in axes if c.verdict == REFUTED and c.reason == OPPOSITE]
    if any(c.gated_by for c in axes):
        head = next(c for c in axes if c.gated_by)
        return _Group(INCONCLUSIVE, head, head.summary(), axes)
    if worse:
        head = _headline(worse, REFUTED)
        return _Group(REFUTED, head, f"significantly worse on {head.metric}: "
                                     f"{head.summary()}", axes)
    if SUPPORTED in found:
        head = _headline(axes, SUPPORTED)
        rest = ", ".join(c.metric for c in axes if c is not head)
        return _Group(SUPPORTED, head, f"dominates: {head.summary()}"
                      + (f"; not significantly worse on {rest}" if rest else ""), axes)
    if all(v == REFUTED for v in found):
        return _Group(REFUTED, _headline(axes, REFUTED), "no gain that matters on any axis: "
                      + "; ".join(c.summary() for c in axes), axes)
    head = _headline(axes, INCONCLUSIVE)
    return _Group(INCONCLUSIVE, head, head.summary(), axes)


COMBINE = {"all": _all, "dominance": _dominance}


def decide_claim(claim_id: str, spec: Mapping[str, Any], table: pd.DataFrame,
                 settings: Mapping[str, Any]) -> Claim:
    """One claim's record from the per-seed table (one row per model x seed, a column per
    metric, the role columns of ``with_roles``, the gate columns) and its declaration
    ``spec``; the option that decides is :func:`_choose`'s."""
    claim = Claim(claim_id, spec["number"], spec["statement"], rule_text(spec, settings))
    plan, passed = _choose(spec, table)
    if plan.note:
        note = f"Not checked: {plan.note}"
        return replace(claim, models=plan.models, note=note, reason=note, fallback=plan.name)
    comparisons = _compare(plan, table, settings)
    groups = COMBINE[plan.option.get("combine", "all")](comparisons)
    verdict = _all_of([g.verdict for g in groups])
    deciding = [g for g in groups if g.verdict == verdict]
    group = (min(deciding, key=lambda g: (g.headline.reason != OPPOSITE, _p(g.headline)))
             if verdict == REFUTED else max(deciding, key=lambda g: _p(g.headline)))
    gated = verdict == INCONCLUSIVE and any(c.gated_by for c in comparisons)
    reason = _gated_reason(comparisons) if gated else group.reason
    if plan.name is not None:
        reason += f" (fallback `{plan.name}`)"
    elif spec.get("fallbacks"):
        reason += " (primary endpoints; no fallback needed)"
    undecided = [c.seeds_needed for g in groups if g.verdict == INCONCLUSIVE
                 for c in g.comparisons if c.verdict == INCONCLUSIVE]
    needed = (max((n for n in undecided if n is not None), default=None)
              if verdict == INCONCLUSIVE and not gated and None not in undecided else None)
    level = settings["level"]
    involved = list(dict.fromkeys(m for _, s, r in plan.pairs for m in (s, r) if m))
    metrics = [*dict.fromkeys(e["metric"] for e in plan.option["primary"]),
               *spec.get("secondary", [])]
    secondary = {metric: {m: Estimate(*mean_ci(pd.Series(_per_seed(table, m, metric)), level))
                          for m in involved}
                 for metric in dict.fromkeys(metrics) if metric in table.columns}
    seeds = len(table["seed"].unique())
    note = " ".join(filter(None, [passed, _undefined_note(comparisons, seeds),
                                  _seeds_note(verdict, gated, undecided, needed, seeds)]))
    decided = replace(claim, verdict=verdict, comparisons=comparisons, models=plan.models,
                      secondary=secondary, seeds_needed=needed, note=note, reason=reason,
                      fallback=plan.name, primary=group.headline)
    return _with_control(decided, _control(spec, table, settings))


def _control_endpoints(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The claim's primary endpoints with its control's roles: every model of the control role
    against every model of its reference role, on the same metric, direction, smallest effect
    and unit (endpoints that differ only in their roles or pick become one)."""
    roles = {"subject": spec["control"]["subject"], "reference": spec["control"]["reference"]}
    endpoints = [{**{k: e[k] for k in ("metric", "direction", "min_effect", "unit") if k in e},
                  **roles} for e in spec["primary"]]
    return list({tuple(sorted(e.items())): e for e in endpoints}.values())


def _control(spec: Mapping[str, Any], table: pd.DataFrame, settings: Mapping[str, Any]
             ) -> Control | None:
    """The claim's declared ``control`` (None: none declared), its comparisons laid out and
    decided like the claim's own (:func:`_compare`: Holm-corrected among themselves, gated
    alike). It moved when every comparison is supported; absent when no model of the control
    role has a value of the endpoints' metrics (an overlay that trains none)."""
    if "control" not in spec:
        return None
    subject, reference = spec["control"]["subject"], spec["control"]["reference"]
    endpoints = _control_endpoints(spec)
    if not any(_evaluated(table, role_models(table, subject), e["metric"]) for e in endpoints):
        return Control(subject, reference, ABSENT, NO_CONTROL)
    plan = _plan(None, {"primary": endpoints}, table)
    if plan.note:
        return Control(subject, reference, NOT_MOVED,
                       f"control not checked: {plan.note.rstrip('.')}")
    comparisons = _compare(plan, table, settings)
    if all(c.verdict == SUPPORTED for c in comparisons):
        return Control(subject, reference, MOVED,
                       "control moved: " + "; ".join(c.numbers for c in comparisons),
                       comparisons)
    failed = "; ".join(c.summary() for c in comparisons if c.verdict != SUPPORTED)
    return Control(subject, reference, NOT_MOVED, f"control did not move: {failed}",
                   comparisons)


def _with_control(claim: Claim, control: Control | None) -> Claim:
    """``claim`` as its control leaves it: decided as it is, its reason saying the control
    moved (or that the study has none); or, when the control did not move, inconclusive
    whatever its comparisons say (still computed and shown), the note saying what they alone
    would make it."""
    if control is None:
        return claim
    if control.outcome != NOT_MOVED:
        moved = control.outcome == MOVED
        note = claim.note if moved else " ".join(
            filter(None, [claim.note, f"{NO_CONTROL[0].upper()}{NO_CONTROL[1:]}."]))
        return replace(claim, control=control, note=note,
                       reason=f"{claim.reason}; {'control moved' if moved else ABSENT}")
    own = (f"The control did not move the instrument, so the claim is inconclusive whatever "
           f"its own comparisons say (alone they would make it {claim.verdict}: "
           f"{claim.reason}).")
    return replace(claim, control=control, verdict=INCONCLUSIVE, seeds_needed=None,
                   reason=f"instrument cannot decide: {control.summary}",
                   note=" ".join(filter(None, [claim.note, own])))


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


def _seeds_note(verdict: str, gated: bool, undecided: list[int | None], needed: int | None,
                seeds: int) -> str:
    if verdict != INCONCLUSIVE:
        return ""
    if gated:
        return ("A comparison rests on a model that failed a training gate: more seeds would "
                "not decide it, a model that passes its gates would.")
    if needed is not None:
        return (f"With the spread observed over {seeds} seeds, about {needed} seeds would "
                "decide it if the true difference were the smallest that matters: an "
                "interval of that spread around it would exclude 0.")
    return ("The observed spread leaves it undecided even at 1000 seeds at the smallest "
            "effect that matters (or that effect is 0), or a comparison has fewer than 2 "
            "seeds with a value." if undecided else "")


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
    """The "Claims at a glance" table: one row per record, in docs/science.md's order, with the
    one-line reason of its verdict."""
    lines = ["## Claims at a glance\n",
             "Verdicts on the claims of docs/science.md section 7, each decided by the primary "
             "endpoint params.yaml declares for it (`claims:`), or by its declared fallback "
             "where the primary one cannot be read at every seed: paired per-seed differences "
             "against the reference model, an interval over seeds, Holm-corrected within the "
             "claim. A comparison is refuted when significant in the opposite direction or "
             "too small to matter (its whole interval below the smallest effect that "
             "matters), supported when significant and at least that large, inconclusive "
             "otherwise; one resting on a model that failed a training gate (not converged, "
             "or a method's own check) is gated and decides nothing. A claim with a control "
             "(docs/science.md section 9) is inconclusive unless a model built to have the effect "
             "moves its instrument: every control comparison supported. The endpoint shown is "
             "the comparison that decided. The same records are in `summary.json` under "
             "`claims`; the details follow.\n",
             "| # | claim | verdict | reason | primary endpoint: paired difference [interval] "
             "| seeds to decide |", "|---|---|---|---|---|---|"]
    for c in sorted(claims, key=lambda c: c.number):
        head = c.primary
        headline = f"`{head.metric}`: {head}" if head else "—"
        seeds = ("—" if c.verdict != INCONCLUSIVE else "— (control)" if c.held
                 else "— (gated)" if c.gated
                 else str(c.seeds_needed) if c.seeds_needed else "not reachable")
        lines.append(f"| {c.number} | `{c.id}`: {_cell(c.statement)} | **{c.verdict}** | "
                     f"{_cell(c.reason or '—')} | {_cell(headline)} | {seeds} |")
    return "\n".join(lines) + "\n"


def claim_markdown(claim: Claim, labels: Mapping[str, str] | None = None) -> str:
    """A claim's detail: verdict, its comparisons, its control's, the secondary metrics, rule
    and note."""
    labels = labels or {}
    text = [f"**Claim {claim.number}** (`{claim.id}`): {claim.statement} "
            f"Verdict: **{claim.verdict}**" + (f": {claim.reason}" if claim.reason else "")
            + ".\n"]
    if claim.comparisons:
        text += [*_comparisons_table(claim.comparisons),
                 "", "Unit `seeds`: the per-seed differences (n seeds); `images`: the "
                 "per-image paired differences within each seed, pooled over seeds (n seeds; "
                 "conditional on the trained models, so it counts the test images but not "
                 "the training luck).\n"]
    if (control := claim.control) is not None:
        text.append(f"**Control** ({control.subject} − {control.reference}, its own Holm "
                    f"family): {control.summary}.\n")
        if control.comparisons:
            text += [*_comparisons_table(control.comparisons), ""]
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


def _comparisons_table(comparisons: Iterable[Comparison]) -> list[str]:
    """The rows of a claim's (or its control's) comparisons, with their intervals."""
    lines = ["| comparison | metric | expected | unit | difference | interval (Holm level) "
             "| p (raw) | n | verdict | reason | other unit, not voting: interval (level) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        i = c.interval
        other = "—" if c.other is None else f"{c.other.method}: {_bounds(c.other)}"
        lines.append(f"| {c.label} | `{c.metric}` | {c.direction} by ≥ {c.min_effect:g} | "
                     f"{c.unit} | {i.estimate:+.4f} | {_bounds(i)} | {i.p_value:.3g} | "
                     f"{i.n} | {c.verdict} | {_cell(c.reason)} | {other} |")
    return lines


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
    """The linear study's verdicts (the statements of docs/science.md section 6) as records, one
    per statement and source; a statement about an attack norm the sweep left out is
    inconclusive."""
    word = {True: SUPPORTED, False: REFUTED, None: INCONCLUSIVE}
    return [
        Claim(id=f"linear_{c['id']}_{source}", number=number,
              statement=f"{c['statement']} ({where})", rule=rule,
              verdict=word[c[source]["supported"]], note=c[source]["evidence"] + ".",
              reason=c[source]["evidence"])
        for c in load_json(path)["claims"]
        for source, (where, rule) in LINEAR_SOURCES.items()
    ]
