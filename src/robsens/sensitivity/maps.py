"""Contextual utility and sensitivity evaluation of one trained model (docs/science.md section 2).

It measures whether a model is sensitive where the input matters and robust where it does
not: the corner decides the label under a centre 0-4 and is irrelevant under a centre 5-9.
Two levels are measured. The *output* level (primary for claim 3) asks how much the
prediction moves when the corner digit is removed or perturbed: the head can apply the
context by itself, so an embedding that carries the corner under every centre says little
about what the model does with it. The *embedding* level (secondary) asks how much g moves.
All maps come from :mod:`robsens.blocks.attribution`, the code FCL selects its features with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from robsens.blocks.attribution import (
    gradient_utility,
    patch_masks,
    patch_reduce,
    perturbation_maps,
    randomized_gradient_sensitivity,
)
from robsens.blocks.perturb import perturb
from robsens.blocks.regions import region_masks
from robsens.data.corner import load_split
from robsens.pipeline import paths

# Centre digits under which the corner decides the label / carries no information.
CONTEXTS = {"centre_0_4": (0, 4), "centre_5_9": (5, 9)}
FORMS = ("gradient", "perturbation")
# How the corner digit is moved for the output-level measures: removed (the probe pair
# x_corner vs x_plain) or perturbed in place (``sensitivity.corner_perturbation``).
CHANGES = ("removal", "perturbation")
# Floors of the output-level selectivities (log10 of a ratio of two context means). A model
# whose prediction never moves in a context has a mean of exactly 0 there; the floor keeps
# the log finite and makes a model that ignores the corner everywhere score 0 (no
# selectivity) instead of 0/0. Both sit far below the context means of trained models (the
# default study: mean JS 0.07-0.13 nats under centres 5-9, 0.22-0.58 under 0-4; margin change
# 0.8-2.1 and 3.7-9.3 logits), so they only bite where a context's mean is numerically nil.
DIVERGENCE_FLOOR = 1e-4  # nats (the JS divergence is at most ln 2 = 0.69)
MARGIN_FLOOR = 1e-3  # logits


@dataclass(frozen=True)
class MapSettings:
    """How the maps are computed; every value comes from params.yaml."""

    patch: int  # side of the square patches (must tile 28)
    reduce: str  # how pixel maps aggregate into patches: sum | mean
    perturbation: str  # perturbation kind of the perturbation forms (robsens.blocks.perturb.KINDS)
    strength: float  # noise std of the gaussian perturbation
    n_probes: int  # random probes of the gradient-sensitivity estimator
    chunk_size: int  # forward items per batched pass

    @classmethod
    def from_params(cls, cfg: dict[str, Any]) -> MapSettings:
        """From the ``sensitivity`` section of params.yaml."""
        keys = ("patch", "reduce", "perturbation", "strength", "n_probes", "chunk_size")
        return cls(**{key: cfg[key] for key in keys})


@dataclass(frozen=True)
class Plan:
    """What one model's evaluation measures; from the ``sensitivity`` section of params.yaml."""

    maps: MapSettings  # patch maps of the test images
    corner: MapSettings  # corner scores: the same, with the corner's own perturbation
    n_test: int  # first test images mapped
    n_probe: int  # first probe images (all with a corner digit) scored on the corner
    n_examples: int  # example test images kept for the figure, half per context
    n_align: int  # first probe images (<= n_probe, validated) aligned by context

    @classmethod
    def from_params(cls, cfg: dict[str, Any]) -> Plan:
        maps = MapSettings.from_params(cfg)
        corner = replace(maps, perturbation=cfg["corner_perturbation"])
        return cls(maps, corner, cfg["n_test"], cfg["n_probe"], cfg["n_examples"],
                   cfg["n_align"])


def gradient_maps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: MapSettings, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel maps (B, 1, 28, 28): gradient utility and estimated gradient sensitivity."""
    utility = torch.cat(
        [
            gradient_utility(model, x[i : i + s.chunk_size], y[i : i + s.chunk_size])
            for i in range(0, x.shape[0], s.chunk_size)
        ]
    )
    return utility, randomized_gradient_sensitivity(model, x, s.n_probes, gen, s.chunk_size)


def compute_maps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: MapSettings, gen: torch.Generator,
    pixel_maps: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Utility and sensitivity per patch (B, P) in both forms, plus the gradient pixel maps.
    ``pixel_maps``: the caller's :func:`gradient_maps` of ``x``, when it has them already."""
    utility_px, sensitivity_px = pixel_maps or gradient_maps(model, x, y, s, gen)
    regions = patch_masks(x.shape[-1], s.patch, x.device)
    utility_pert, sensitivity_pert = perturbation_maps(
        model, x, y, regions, s.perturbation, s.strength, gen, s.chunk_size
    )
    return {
        "utility_gradient_pixels": utility_px,
        "sensitivity_gradient_pixels": sensitivity_px,
        "utility_gradient": patch_reduce(utility_px, s.patch, s.reduce),
        "sensitivity_gradient": patch_reduce(sensitivity_px, s.patch, s.reduce),
        "utility_perturbation": utility_pert,
        "sensitivity_perturbation": sensitivity_pert,
    }


def alignments(maps: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Per-image alignment (:func:`rank_alignment`) of :func:`compute_maps`' maps, per form."""
    return {form: rank_alignment(maps[f"utility_{form}"], maps[f"sensitivity_{form}"])
            for form in FORMS}


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n along each row of a (B, P) array, ties sharing their mean rank; a row with a
    NaN is all NaN. It is ``scipy.stats.rankdata(values, axis=1)`` (the ranks are half-integers,
    so the two agree exactly), without the ~1 s import of scipy.stats in every job."""
    rows, n = values.shape
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    starts_run = np.ones_like(ordered, dtype=bool)  # a new run of equal values; each row starts one
    starts_run[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run = np.cumsum(starts_run.ravel()) - 1
    first = np.tile(np.arange(n), rows)[starts_run.ravel()]  # a run's first position in its row
    mean_rank = first + (np.bincount(run) - 1) / 2 + 1
    ranks = np.empty_like(values, dtype=np.float64)
    np.put_along_axis(ranks, order, mean_rank[run].reshape(rows, n), axis=1)
    ranks[np.isnan(values).any(axis=1)] = np.nan
    return ranks


def rank_alignment(utility: torch.Tensor, sensitivity: torch.Tensor) -> np.ndarray:
    """Spearman correlation between the rows of two (B, P) maps, one value per image.

    Ties get average ranks; an image whose utility or sensitivity is constant gets NaN.
    """
    ranks = [average_ranks(t.detach().cpu().double().numpy()) for t in (utility, sensitivity)]
    u, v = (r - r.mean(axis=1, keepdims=True) for r in ranks)
    denominator = np.sqrt((u * u).sum(axis=1) * (v * v).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (u * v).sum(axis=1) / denominator


def corner_scores(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    corner: torch.Tensor,
    s: MapSettings,
    gen: torch.Generator,
    pixel_maps: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Utility and sensitivity of the corner region (B,) in both forms.

    Gradient forms aggregate the pixel maps over the corner like a patch (``s.reduce``);
    perturbation forms perturb the whole corner at once. ``pixel_maps``: the caller's
    :func:`gradient_maps` of ``x`` (same settings and generator state), so that the
    evaluation that needs them for patches too computes them once.
    """
    corner = corner.to(x.device).view(1, 1, *corner.shape[-2:])
    utility_px, sensitivity_px = pixel_maps or gradient_maps(model, x, y, s, gen)
    pixels = corner.sum() if s.reduce == "mean" else 1
    utility_pert, sensitivity_pert = perturbation_maps(
        model, x, y, corner[None], s.perturbation, s.strength, gen, s.chunk_size
    )
    return {
        "utility_gradient": (utility_px * corner).sum((1, 2, 3)) / pixels,
        "sensitivity_gradient": (sensitivity_px * corner).sum((1, 2, 3)) / pixels,
        "utility_perturbation": utility_pert[:, 0],
        "sensitivity_perturbation": sensitivity_pert[:, 0],
    }


def context_masks(centre: torch.Tensor) -> dict[str, torch.Tensor]:
    return {name: (centre >= lo) & (centre <= hi) for name, (lo, hi) in CONTEXTS.items()}


@torch.no_grad()
def batched_logits(model: nn.Module, x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """f(x) (B, classes) in forward passes of at most ``chunk_size`` images."""
    return torch.cat([model(x[i : i + chunk_size]) for i in range(0, x.shape[0], chunk_size)])


def js_divergence(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence (nats) between the two rows' softmax distributions, (B,).

    Chosen over the symmetric KL because it is bounded (by ln 2) and finite when one
    prediction puts almost no mass on the other's class: the symmetric KL of a confident
    flip grows with the logits' scale without bound, so a few images would dominate the
    context means, and hence the selectivity and its spread over seeds.
    """
    log_a, log_b = F.log_softmax(logits_a, dim=1), F.log_softmax(logits_b, dim=1)
    log_mid = torch.logaddexp(log_a, log_b) - math.log(2.0)
    kl_a = (log_a.exp() * (log_a - log_mid)).sum(1)
    kl_b = (log_b.exp() * (log_b - log_mid)).sum(1)
    return (0.5 * (kl_a + kl_b)).clamp_min(0.0)  # rounding can leave -1e-8


def label_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Logit margin of label ``y``: z_y - max_{k != y} z_k, (B,); positive when f predicts y."""
    own = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], -math.inf).amax(1)
    return own - others


def output_changes(
    logits: torch.Tensor, moved: torch.Tensor, y: torch.Tensor
) -> dict[str, torch.Tensor]:
    """How far the prediction moves from ``logits`` to ``moved``, per image (B,): the JS
    divergence of the predicted distributions, and the absolute change of the logit margin
    of ``y`` (the label of the unmoved image: a change the loss sees)."""
    return {
        "divergence": js_divergence(logits, moved),
        "margin_change": (label_margin(logits, y) - label_margin(moved, y)).abs(),
    }


def log_selectivity(useful: float, useless: float, floor: float) -> float:
    """log10 of the ratio of two context means, each held at ``floor`` or above.

    A log-ratio, because the ratio spans orders of magnitude (a model whose prediction stays
    put under centres 5-9 has a near-zero denominator) and its log is what a paired
    per-seed difference can average: a difference of log-selectivities is the log of the
    ratio of the models' ratios, with a spread that a few near-zero denominators do not blow
    up. 0 means no selectivity, 1 a prediction that moves 10x more where the corner decides
    the label.
    """
    return math.log10(max(useful, floor) / max(useless, floor))


def output_sensitivity(
    model: nn.Module,
    probe: dict[str, torch.Tensor],
    corner: torch.Tensor,
    s: MapSettings,
    gen: torch.Generator,
) -> dict[str, dict[str, torch.Tensor]]:
    """Per probe image (B,), how much the prediction moves when the corner digit is removed
    (x_corner -> x_plain) or perturbed in place (``s.perturbation`` on the corner of
    x_corner): :func:`output_changes` for each, keys ``<measure>_<change>``.

    All three image sets go through the model in one batched pass, chunked by
    ``s.chunk_size``; the margin is that of the with-corner label ``y_corner``.
    """
    x = probe["x_corner"]
    mask = corner.to(x.device).view(1, 1, *corner.shape[-2:])
    moved = perturb(x, mask, s.perturbation, s.strength, gen)
    logits = batched_logits(model, torch.cat([x, probe["x_plain"], moved]), s.chunk_size)
    with_corner, removed, perturbed = logits.split(x.shape[0])
    out = {}
    for change, other in zip(CHANGES, (removed, perturbed), strict=True):
        for key, value in output_changes(with_corner, other, probe["y_corner"]).items():
            out[f"{key}_{change}"] = value
    return out


def output_metrics(
    changes: dict[str, torch.Tensor], centre: torch.Tensor
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Context means and selectivities of :func:`output_sensitivity`'s per-image changes,
    and the per-image outcomes each context mean averages (for the claims' per-image test).

    ``output_divergence_<change>_<context>``, ``output_margin_change_<change>_<context>``;
    ``output_selectivity_<change>`` (divergence) and ``output_margin_selectivity_<change>``
    are :func:`log_selectivity` of the centre 0-4 over the centre 5-9 mean.
    """
    metrics: dict[str, float] = {}
    per_image: dict[str, list[float]] = {}
    for key, values in changes.items():
        for name, mask in context_masks(centre).items():
            per_image[f"output_{key}_{name}"] = values[mask].tolist()
            metrics[f"output_{key}_{name}"] = values[mask].mean().item()
    for change in CHANGES:
        for measure, selectivity, floor in (("divergence", "selectivity", DIVERGENCE_FLOOR),
                                            ("margin_change", "margin_selectivity",
                                             MARGIN_FLOOR)):
            useful, useless = (metrics[f"output_{measure}_{change}_{name}"] for name in CONTEXTS)
            metrics[f"output_{selectivity}_{change}"] = log_selectivity(useful, useless, floor)
    return metrics, per_image


def example_indices(test: dict[str, torch.Tensor], n_examples: int) -> torch.Tensor:
    """The first test images with a corner digit, half per context: fixed across models."""
    with_corner = [
        torch.nonzero(mask & test["corner"]).flatten()[: n_examples // 2]
        for mask in context_masks(test["centre"]).values()
    ]
    return torch.cat(with_corner)


def evaluate(
    model: nn.Module,
    test: dict[str, torch.Tensor],
    probe: dict[str, torch.Tensor],
    corner: torch.Tensor,
    plan: Plan,
    gen: torch.Generator,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Summary metrics (with their ``per_image`` outcomes) and the per-image arrays the
    figures need, for one model.

    Maps and alignment use the first ``plan.n_test`` test images; corner scores and the
    output-level measures the first ``plan.n_probe`` probe images, every one with a corner
    digit (both contexts well populated); the alignment by context the first
    ``plan.n_align`` of them. The probe flip rates are the clean stage's
    (:func:`robsens.clean.metrics.flip_outcomes`). ``model`` is used in the mode and on the
    device given. The random draws of the output-level measures and of the alignment by
    context come after all the others, so adding them left every other number unchanged.
    """
    x, y = test["x"][: plan.n_test], test["y"][: plan.n_test]
    maps = compute_maps(model, x, y, plan.maps, gen)
    alignment = alignments(maps)
    probe = {key: value[: plan.n_probe] for key, value in probe.items()}
    with_corner, labels, centre = probe["x_corner"], probe["y_corner"], probe["centre"]
    probe_pixels = gradient_maps(model, with_corner, labels, plan.corner, gen)
    scores = corner_scores(model, with_corner, labels, corner, plan.corner, gen, probe_pixels)

    metrics: dict[str, Any] = {
        f"alignment_{form}": float(np.nanmean(values)) for form, values in alignment.items()
    }
    for name, mask in context_masks(centre).items():
        for key, values in scores.items():
            metrics[f"corner_{key}_{name}"] = values[mask].mean().item()
    for form in FORMS:
        key = f"corner_sensitivity_{form}"
        selectivity = metrics[f"{key}_centre_0_4"] / metrics[f"{key}_centre_5_9"]
        metrics[f"context_selectivity_{form}"] = selectivity

    examples = example_indices(test, plan.n_examples)
    example_maps = compute_maps(model, test["x"][examples], test["y"][examples], plan.maps, gen)

    # The probe images all carry a corner digit that matters (centres 0-4) or does not
    # (5-9), unlike the test images (90% without one); their gradient pixel maps are the
    # corner scores', so only the patch perturbation maps are new passes.
    corner_alignment = alignments(compute_maps(
        model, with_corner[: plan.n_align], labels[: plan.n_align], plan.maps, gen,
        tuple(px[: plan.n_align] for px in probe_pixels)))
    for name, mask in context_masks(centre[: plan.n_align]).items():
        for form, values in corner_alignment.items():
            values = values[mask.cpu().numpy()]
            metrics[f"alignment_with_corner_{form}_{name}"] = float(np.nanmean(values))
    changes = output_sensitivity(model, probe, corner, plan.corner, gen)
    output, per_image = output_metrics(changes, centre)
    metrics.update(output, per_image=per_image)

    arrays = {
        **{f"alignment_{form}": values for form, values in alignment.items()},
        **{key: maps[key].cpu().numpy() for key in maps if not key.endswith("pixels")},
        **{f"corner_{key}": values.cpu().numpy() for key, values in scores.items()},
        **{f"alignment_with_corner_{form}": values for form, values in corner_alignment.items()},
        **{f"output_{key}": values.cpu().numpy() for key, values in changes.items()},
        "probe_centre": centre.cpu().numpy(),
        "example_index": examples.cpu().numpy(),
        "example_centre": test["centre"][examples].cpu().numpy(),
        "example_x": test["x"][examples].cpu().numpy(),
        **{f"example_{key}": value.cpu().numpy() for key, value in example_maps.items()},
    }
    return metrics, arrays


def sensitivity_metrics(
    params: dict[str, Any], model: nn.Module, device: torch.device
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """:func:`evaluate` with everything taken from params.yaml and the stored splits.

    The generator is seeded by ``sensitivity.seed`` alone, so every model sees the same
    perturbations and probes (common random numbers across models).
    """
    cfg, data = params["sensitivity"], params["data"]
    _, corner = region_masks(data["corner_size"], data["corner_position"])
    test = load_split(paths.DATA_DIR, paths.eval_split(params, "test"), device)
    probe = load_split(paths.DATA_DIR, paths.eval_split(params, "probe"), device)
    gen = torch.Generator(device=device).manual_seed(cfg["seed"])
    return evaluate(model, test, probe, corner, Plan.from_params(cfg), gen)
