"""The linear study's section of reports/results.md, from ``results/linear`` alone."""

from __future__ import annotations

from pathlib import Path

from robsens.core.io import load_json
from robsens.linear.figures import FIGURES, make_linear_figures
from robsens.linear.study import SUMMARY_JSON
from robsens.pipeline import paths
from robsens.report.figures import figure_markdown


def _word(verdict: dict) -> str:
    return {True: "**supported**", False: "**not supported**", None: "not checked"}[
        verdict["supported"]]


def _num(value: float | None) -> str:
    return "inf (w_c = 0)" if value is None else f"{value:.3g}"


def _markdown(summary: dict) -> str:
    head, model = summary["headline"], summary["config"]["model"]
    lines = [
        "## Linear study: core vs spurious features (docs/science.md section 6)",
        "",
        f"Gaussian model with {model['dim_core']} core and {model['dim_spurious']} spurious "
        f"features, sigma_c = {model['sigma_core']}, rho = {model['rho']}, label noise "
        f"{model['noise_std']}; sigma_s varies. Population optima minimise the exact adversarial "
        "risk; finite-sample fits minimise the empirical mean of (|w.x - y| + eps ||w||_q)^2, "
        "the exact inner maximum. eps is in units of eps_null, the radius at which the "
        "core-only optimum is w = 0. Test errors are exact expectations under the test "
        "distribution. Finite-sample checks compare each fit with the eps = 0 fit of the same "
        "sample and are judged at the largest n.",
        "",
        "| # | Claim | Population | Finite samples |",
        "|---|---|---|---|",
    ]
    claims = summary["claims"]
    lines += [f"| {i} | {c['statement']} | {_word(c['population'])} | {_word(c['finite'])} |"
              for i, c in enumerate(claims, 1)]
    lines += ["", "Evidence:", ""]
    for i, c in enumerate(claims, 1):
        lines += [f"{i}. Population: {c['population']['evidence']}.",
                  f"   Finite samples: {c['finite']['evidence']}."]
    lines += [
        "",
        f"At eps / eps_null = {head['eps_rel']:.2g} (finite samples: n = {head['n_train']}, "
        "seed mean); flip cost = test MSE at -rho minus test MSE at rho:",
        "",
        "| Attack | rho sigma_s / sigma_c | reliance (population) | reliance (finite) "
        "| flip cost (population) | flip cost (finite) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['attack']} | {r['rho_sigma_ratio']:.2g} | {_num(r['reliance_population'])} | "
        f"{_num(r['reliance_finite'])} | {r['flip_cost_population']:.3g} | "
        f"{r['flip_cost_finite']:.3g} |"
        for r in head["at_max_eps"]
    ]
    errors = ", ".join(f"n={n}: {e:.3g}" for n, e in head["finite_weight_error"].items())
    lines += [
        "",
        f"Mean |finite - population| of ||w_c|| and ||w_s|| (seed means): {errors}. "
        f"{summary['fits']} fits ({summary['fits_not_converged']} not converged).",
        "",
    ]
    lines += [figure_markdown(name.removesuffix(".png")) for name in FIGURES]
    return "\n".join(lines) + "\n"


def linear_section(params: dict, fig_dir: Path,
                   results_dir: Path = paths.LINEAR_DIR) -> tuple[str, dict]:
    """Claims of docs/science.md section 6 with verdicts and numbers; figures into ``fig_dir``.

    The DVC metrics are the verdicts (1 supported, 0 not).
    """
    summary = load_json(Path(results_dir) / SUMMARY_JSON)
    make_linear_figures(results_dir, fig_dir)
    verdicts = {c["id"]: {"population": int(c["population"]["supported"]),
                          "finite": int(c["finite"]["supported"])}
                for c in summary["claims"] if c["population"]["supported"] is not None}
    return _markdown(summary), {"linear": {"supported": verdicts}}
