"""Contextual utility and sensitivity evaluation of one trained model (science.md section 2).

It measures whether a model is sensitive where the input matters and robust where it does
not: the corner decides the label under a centre 0-4 and is irrelevant under a centre 5-9.
All maps come from :mod:`robsens.blocks.attribution`, the code FCL selects its features with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from robsens.blocks.attribution import (
    gradient_utility,
    patch_masks,
    patch_reduce,
    perturbation_maps,
    randomized_gradient_sensitivity,
)
from robsens.data.corner import load_split
from robsens.data.regions import region_masks
from robsens.pipeline import paths

# Centre digits under which the corner decides the label / carries no information.
CONTEXTS = {"centre_0_4": (0, 4), "centre_5_9": (5, 9)}
FORMS = ("gradient", "perturbation")


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

    @classmethod
    def from_params(cls, cfg: dict[str, Any]) -> Plan:
        maps = MapSettings.from_params(cfg)
        corner = replace(maps, perturbation=cfg["corner_perturbation"])
        return cls(maps, corner, cfg["n_test"], cfg["n_probe"], cfg["n_examples"])


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
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: MapSettings, gen: torch.Generator
) -> dict[str, torch.Tensor]:
    """Utility and sensitivity per patch (B, P) in both forms, plus the gradient pixel maps."""
    utility_px, sensitivity_px = gradient_maps(model, x, y, s, gen)
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


def rank_alignment(utility: torch.Tensor, sensitivity: torch.Tensor) -> np.ndarray:
    """Spearman correlation between the rows of two (B, P) maps, one value per image.

    Ties get average ranks; an image whose utility or sensitivity is constant gets NaN.
    """
    ranks = [rankdata(t.detach().cpu().double().numpy(), axis=1) for t in (utility, sensitivity)]
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
) -> dict[str, torch.Tensor]:
    """Utility and sensitivity of the corner region (B,) in both forms.

    Gradient forms aggregate the pixel maps over the corner like a patch (``s.reduce``);
    perturbation forms perturb the whole corner at once.
    """
    corner = corner.to(x.device).view(1, 1, *corner.shape[-2:])
    utility_px, sensitivity_px = gradient_maps(model, x, y, s, gen)
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
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Summary metrics and the per-image arrays the figures need, for one model.

    Maps and alignment use the first ``plan.n_test`` test images; corner scores the first
    ``plan.n_probe`` probe images with a corner digit (every probe centre has one, so both
    contexts are well populated). The probe flip rates are the clean stage's
    (:func:`robsens.clean.metrics.flip_rates`). ``model`` is used in the mode and on the
    device given.
    """
    x, y = test["x"][: plan.n_test], test["y"][: plan.n_test]
    maps = compute_maps(model, x, y, plan.maps, gen)
    alignment = {
        form: rank_alignment(maps[f"utility_{form}"], maps[f"sensitivity_{form}"]) for form in FORMS
    }
    with_corner, labels = probe["x_corner"][: plan.n_probe], probe["y_corner"][: plan.n_probe]
    centre = probe["centre"][: plan.n_probe]
    scores = corner_scores(model, with_corner, labels, corner, plan.corner, gen)

    metrics = {f"alignment_{form}": float(np.nanmean(values)) for form, values in alignment.items()}
    for name, mask in context_masks(centre).items():
        for key, values in scores.items():
            metrics[f"corner_{key}_{name}"] = values[mask].mean().item()
    for form in FORMS:
        key = f"corner_sensitivity_{form}"
        selectivity = metrics[f"{key}_centre_0_4"] / metrics[f"{key}_centre_5_9"]
        metrics[f"context_selectivity_{form}"] = selectivity

    examples = example_indices(test, plan.n_examples)
    example_maps = compute_maps(model, test["x"][examples], test["y"][examples], plan.maps, gen)
    arrays = {
        **{f"alignment_{form}": values for form, values in alignment.items()},
        **{key: maps[key].cpu().numpy() for key in maps if not key.endswith("pixels")},
        **{f"corner_{key}": values.cpu().numpy() for key, values in scores.items()},
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
