"""Robustness of a trained model (science.md section 5): corrupted accuracy and RFS.

Corrupted accuracy is read off the stored corrupted sets (see
:mod:`robsens.robustness.corruptions.sets`), so every model is scored on the very same images.
Relative foreground sensitivity (RFS) adds Gaussian noise to the centre-digit region
only or to the corner region only and compares the two accuracies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robsens.blocks.perturb import perturb
from robsens.blocks.predict import accuracy_report, predict
from robsens.core.io import load_npz
from robsens.data.regions import region_masks
from robsens.pipeline import paths
from robsens.robustness.corruptions import SEVERITIES
from robsens.robustness.corruptions.sets import clean_subset, from_uint8


def rfs(a_fg: float, a_bg: float) -> float:
    """(a_bg - a_fg) / (2 min(a, 1 - a)) with a = (a_fg + a_bg) / 2; 0 when a is 0 or 1.

    Positive: noise on the foreground hurts more, the model relies on the foreground.
    The denominator is the largest gap possible at mean accuracy a, so RFS is in [-1, 1].
    """
    a = (a_fg + a_bg) / 2
    if a <= 0.0 or a >= 1.0:
        return 0.0
    return (a_bg - a_fg) / (2 * min(a, 1 - a))


def region_noise(x: torch.Tensor, region: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """``x`` plus N(0, sigma^2) inside ``region`` only (clamped to [0, 1]).

    The noise field depends only on ``seed`` and the batch shape, not on the region: the
    foreground and background runs of one noise level share one draw (common random
    numbers), so their accuracy gap is not blurred by two independent draws.
    """
    g = torch.Generator(device=x.device).manual_seed(seed)
    return perturb(x, region.to(x.device), "gaussian", sigma, g)


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    return (predict(model, x, batch_size) == y).float().mean().item()


def rfs_curve(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    regions: tuple[torch.Tensor, torch.Tensor],
    sigmas: Sequence[float],
    seed: int,
    batch_size: int,
) -> dict[str, list[float]]:
    """RFS at each noise level; ``regions`` = (centre mask, corner mask) from ``region_masks``."""
    centre, corner = regions
    curve: dict[str, list[float]] = {"sigma": [], "fg_accuracy": [], "bg_accuracy": [], "rfs": []}
    for i, sigma in enumerate(sigmas):
        a_fg = _accuracy(model, region_noise(x, centre, sigma, seed + i), y, batch_size)
        a_bg = _accuracy(model, region_noise(x, corner, sigma, seed + i), y, batch_size)
        for key, value in zip(curve, (float(sigma), a_fg, a_bg, rfs(a_fg, a_bg)), strict=True):
            curve[key].append(value)
    return curve


def score_corrupted_set(
    model: torch.nn.Module, corrupted: Mapping[str, np.ndarray], batch_size: int
) -> dict[str, list[float]]:
    """Accuracy and rare-class accuracy at each severity of one stored corrupted set, and
    per image the number of severities it is classified correctly at (``correct``)."""
    device = next(model.parameters()).device
    y = torch.as_tensor(corrupted["y"], device=device)
    scores: dict[str, Any] = {"accuracy": [], "rare_accuracy": [],
                              "correct": torch.zeros(len(y), dtype=torch.int64, device=device)}
    for images in corrupted["x"]:
        pred = predict(model, from_uint8(images, device), batch_size)
        report = accuracy_report(pred, y)
        for key in ("accuracy", "rare_accuracy"):
            scores[key].append(report[key])
        scores["correct"] += pred == y
    return scores


def evaluate_robustness(
    model: torch.nn.Module,
    sets_dir: str | Path,
    names: Sequence[str],
    clean: tuple[torch.Tensor, torch.Tensor],
    regions: tuple[torch.Tensor, torch.Tensor],
    sigmas: Sequence[float],
    seed: int,
    batch_size: int,
) -> dict[str, Any]:
    """Every robustness metric of one model, JSON-ready (lists follow severities / sigmas).

    ``clean`` is the (x, y) subset the corrupted sets were made from; RFS uses it too.
    Means are unweighted over corruptions and severities (MNIST-C / ImageNet-C style).
    """
    x, y = clean
    accuracy, rare = {}, {}
    correct = torch.zeros(len(y), dtype=torch.int64, device=y.device)
    for name in names:
        corrupted = load_npz(Path(sets_dir) / f"{name}.npz")
        if not np.array_equal(corrupted["y"], y.cpu().numpy()):
            raise ValueError(f"{name}: corrupted set labels do not match the clean subset")
        scores = score_corrupted_set(model, corrupted, batch_size)
        accuracy[name], rare[name] = scores["accuracy"], scores["rare_accuracy"]
        correct += scores["correct"]
    curve = rfs_curve(model, x, y, regions, sigmas, seed, batch_size)
    return {
        "n_images": len(y),
        "severities": list(SEVERITIES),
        "accuracy": accuracy,
        "rare_accuracy": rare,
        "mean_corrupted_accuracy": float(np.mean(list(accuracy.values()))),
        "mean_corrupted_rare_accuracy": float(np.nanmean(list(rare.values()))),
        "rfs": curve,
        "mean_rfs": float(np.mean(curve["rfs"])),
        # per image, the share of corrupted versions classified correctly: its mean is the
        # mean corrupted accuracy; the claims pair models image by image within a seed
        "per_image": {"mean_corrupted_accuracy":
                      (correct.double() / (len(names) * len(SEVERITIES))).tolist()},
    }


def robustness_metrics(
    params: Mapping[str, Any], model: torch.nn.Module, device: torch.device
) -> dict[str, Any]:
    """The robustness stage for one trained model, on the sets the corrupt stage wrote."""
    cfg, data = params["robustness"], params["data"]
    clean = clean_subset(device)
    return evaluate_robustness(
        model,
        paths.CORRUPTED_DIR,
        cfg["corruptions"],
        (clean["x"], clean["y"]),
        region_masks(data["corner_size"], data["corner_position"]),
        cfg["rfs_sigmas"],
        cfg["seed"],
        cfg["batch_size"],
    )


def severity_curve(metrics: Mapping[str, Any]) -> list[dict[str, float]]:
    """Accuracy and rare-class accuracy per severity, unweighted means over corruptions: the
    records ``dvc plots show`` draws as the model's robustness curve."""
    accuracy = np.array(list(metrics["accuracy"].values()))  # corruptions x severities
    rare = np.array(list(metrics["rare_accuracy"].values()))
    return [{"severity": int(s), "accuracy": float(a), "rare_accuracy": float(r)}
            for s, a, r in zip(metrics["severities"], accuracy.mean(axis=0), rare.mean(axis=0),
                               strict=True)]
