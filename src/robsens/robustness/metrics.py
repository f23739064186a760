"""Robustness of a trained model (docs/science.md section 5): corrupted accuracy and RFS.

Corrupted accuracy is read off the stored corrupted sets (see
:mod:`robsens.robustness.corruptions.sets`), so every model is scored on the very same images;
besides its mean over the suite, its mean per corruption family (:func:`family_means`), and,
across the models of a seed, the corruption error relative to the baseline's
(:func:`relative_corruption_error`, Hendrycks & Dietterich's mCE).
Relative foreground sensitivity (RFS) adds Gaussian noise to the foreground only or to the
background only and compares the two accuracies (:func:`rfs_curve`, the one implementation
both image studies use): on corner digits the centre-digit region against the corner region,
in the spurious-background study the digit's box against the cue frame around it. As the
RIVAL10 code does it, optionally: noise of equal l_2 energy on either region, accuracy
balanced over classes, several draws per level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from robsens.blocks.perturb import perturb
from robsens.blocks.predict import accuracy_report, predict
from robsens.blocks.regions import region_masks
from robsens.core.io import load_npz
from robsens.pipeline import paths
from robsens.robustness.claims import ROBUST
from robsens.robustness.corruptions import SEVERITIES, by_family
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


NOISE_KINDS = ("per_pixel", "equal_energy")


def region_noise(x: torch.Tensor, region: torch.Tensor, sigma: float, seed: int,
                 noise: str = "per_pixel") -> torch.Tensor:
    """``x`` with Gaussian noise inside ``region`` only (clamped to [0, 1]).

    ``region``: a boolean mask broadcastable to ``x`` ((H, W) for all images, (N, 1, H, W)
    per image). ``per_pixel``: N(0, sigma^2) on every pixel of the region. ``equal_energy``:
    the draw restricted to the region and scaled, per image, to the l_2 norm sigma sqrt(H W),
    the energy per-pixel sigma noise has over the whole image; so a small region gets the
    same energy as a large one (the RIVAL10 code normalises its noise the same way).

    The draw depends only on ``seed`` and the batch shape, not on the region: the foreground
    and background runs of one level share it (common random numbers), so their accuracy
    gap is not blurred by two independent draws.
    """
    g = torch.Generator(device=x.device).manual_seed(seed)
    region = region.to(x.device)
    if noise == "per_pixel":
        return perturb(x, region, "gaussian", sigma, g)
    if noise != "equal_energy":
        raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")
    draw = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype) * region
    norm = draw.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
    scaled = draw * (sigma * math.sqrt(x[0, 0].numel()) / norm)
    return torch.where(region, (x + scaled).clamp(0.0, 1.0), x)


def balanced_accuracy(correct: torch.Tensor, y: torch.Tensor) -> float:
    """The mean over the classes present of each class's accuracy."""
    return float(np.mean([correct[y == c].float().mean().item() for c in y.unique()]))


class RfsCurve(NamedTuple):
    """RFS along the noise levels, and per image the outcomes under noise on each region."""

    curve: dict[str, list[float]]  # sigma, fg_accuracy, bg_accuracy, rfs: one per level
    fg_correct: list[float]  # per image: share of levels x draws correct, noise on foreground
    bg_correct: list[float]  # the same with the noise on the background


def rfs_curve(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    regions: tuple[torch.Tensor, torch.Tensor],
    sigmas: Sequence[float],
    seed: int,
    batch_size: int,
    noise: str = "per_pixel",
    draws: int = 1,
    balanced: bool = False,
) -> RfsCurve:
    """RFS at each noise level: ``regions`` = (foreground, background) masks (see
    :func:`region_noise`); accuracy over images or class-balanced, averaged over ``draws``
    draws per level (draw d of level i is seeded ``seed + i + d * len(sigmas)``, so one draw
    is the curve of earlier versions). Besides the curve, per image the share of levels x
    draws it is classified correctly under noise on each region (their means are the
    accuracies over images, for the per-image paired tests)."""
    foreground, background = regions
    curve: dict[str, list[float]] = {"sigma": [], "fg_accuracy": [], "bg_accuracy": [],
                                     "rfs": []}
    hits = {"fg": torch.zeros(len(y), dtype=torch.int64, device=y.device),
            "bg": torch.zeros(len(y), dtype=torch.int64, device=y.device)}
    for i, sigma in enumerate(sigmas):
        acc = {"fg": 0.0, "bg": 0.0}
        for d in range(draws):
            for name, region in (("fg", foreground), ("bg", background)):
                noisy = region_noise(x, region, sigma, seed + i + d * len(sigmas), noise)
                correct = predict(model, noisy, batch_size) == y
                hits[name] += correct
                acc[name] += (balanced_accuracy(correct, y) if balanced
                              else correct.float().mean().item()) / draws
        for key, value in zip(curve, (float(sigma), acc["fg"], acc["bg"],
                                      rfs(acc["fg"], acc["bg"])), strict=True):
            curve[key].append(value)
    runs = len(sigmas) * draws
    return RfsCurve(curve, (hits["fg"].double() / runs).tolist(),
                    (hits["bg"].double() / runs).tolist())


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


def family_metric(family: str) -> str:
    """The name of a family's mean corrupted accuracy: ``mean_corrupted_accuracy_<family>``."""
    return f"{ROBUST}_{family}"


def family_means(accuracy: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """:func:`family_metric` -> value for each family with a corruption in ``accuracy``
    (corruption -> accuracy per severity): the unweighted mean over the family's corruptions
    and severities, as the mean corrupted accuracy is over all of them. The overall mean weighs
    each family by how many corruptions the suite happens to hold (digital has 7, blur 3); per
    family, a gain on one kind of shift cannot hide a loss on another."""
    return {family_metric(family): float(np.mean([accuracy[name] for name in names]))
            for family, names in by_family(accuracy).items()}


RCE = "relative_corruption_error"


def relative_corruption_error(table: pd.DataFrame, robust: pd.DataFrame) -> pd.Series:
    """Per row of ``table`` (model x seed with the role columns of
    :func:`robsens.report.tables.with_roles`): Hendrycks & Dietterich's mean corruption error
    (mCE) against the baseline of the same seed. For each corruption c, E_c = the model's
    error (1 - accuracy) summed over severities, divided by the baseline's; the result is the
    mean of E_c over the corruptions. Normalising by the baseline's error per corruption
    weighs every corruption alike, however hard: differences of mean corrupted accuracy are
    dominated by the corruptions with the most errors, which have the most room to move.
    Below 1: fewer errors under corruption than the baseline; the baseline's is exactly 1.
    (Not H&D's "relative mCE", which first subtracts the clean error.)

    ``robust``: the robustness metrics rows (``model``, ``seed``, ``accuracy``: corruption ->
    accuracy per severity). NaN for a row without robustness metrics or whose seed lacks the
    baseline's. A corruption the baseline makes no error on (E_c undefined) is left out of
    that seed's mean, for every model alike, so the models of a seed stay comparable.
    """
    out = pd.Series(math.nan, index=table.index, name=RCE)
    if robust.empty or "role" not in table.columns or "accuracy" not in robust.columns:
        return out
    errors = {(r.model, r.seed): {name: float(np.sum(1 - np.asarray(accs)))
                                  for name, accs in r.accuracy.items()}
              for r in robust.itertuples()}
    baselines = table[table["role"] == "baseline"].drop_duplicates("seed")
    reference = {seed: errors.get((model, seed))
                 for model, seed in zip(baselines["model"], baselines["seed"], strict=True)}
    for i, model, seed in zip(table.index, table["model"], table["seed"], strict=True):
        own, base = errors.get((model, seed)), reference.get(seed)
        if own is None or base is None:
            continue
        ratios = [own[name] / base[name] for name in own if base.get(name, 0.0) > 0.0]
        if ratios:
            out[i] = float(np.mean(ratios))
    return out


def evaluate_robustness(
    model: torch.nn.Module,
    sets_dir: str | Path,
    names: Sequence[str],
    clean: tuple[torch.Tensor, torch.Tensor],
    regions: tuple[torch.Tensor, torch.Tensor],
    sigmas: Sequence[float],
    seed: int,
    batch_size: int,
    rfs_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every robustness metric of one model, JSON-ready (lists follow severities / sigmas).

    ``clean`` is the (x, y) subset the corrupted sets were made from; RFS uses it too, with
    ``rfs_options`` (``noise``, ``draws``, ``balanced`` of :func:`rfs_curve`).
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
    curve, fg_correct, bg_correct = rfs_curve(model, x, y, regions, sigmas, seed, batch_size,
                                              **(rfs_options or {}))
    per_region = {"rfs_fg_accuracy": fg_correct, "rfs_bg_accuracy": bg_correct}
    balanced = (rfs_options or {}).get("balanced", False)
    return {
        "n_images": len(y),
        "severities": list(SEVERITIES),
        "accuracy": accuracy,
        "rare_accuracy": rare,
        "mean_corrupted_accuracy": float(np.mean(list(accuracy.values()))),
        **family_means(accuracy),
        "mean_corrupted_rare_accuracy": float(np.nanmean(list(rare.values()))),
        "rfs": curve,
        "mean_rfs": float(np.mean(curve["rfs"])),
        # accuracy under noise on each RFS region, mean over the levels
        "rfs_fg_accuracy": float(np.mean(curve["fg_accuracy"])),
        "rfs_bg_accuracy": float(np.mean(curve["bg_accuracy"])),
        # per image, the share of corrupted versions classified correctly: its mean is the
        # mean corrupted accuracy; the claims pair models image by image within a seed. The
        # RFS regions' outcomes likewise, where their accuracy is over images.
        "per_image": {"mean_corrupted_accuracy":
                      (correct.double() / (len(names) * len(SEVERITIES))).tolist(),
                      **({} if balanced else per_region)},
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
        params["evaluate"]["batch_size"],
        {"noise": cfg["rfs_noise"], "draws": cfg["rfs_draws"], "balanced": cfg["rfs_balanced"]},
    )


def severity_curve(metrics: Mapping[str, Any]) -> list[dict[str, float]]:
    """Accuracy and rare-class accuracy per severity, unweighted means over corruptions: the
    records ``dvc plots show`` draws as the model's robustness curve."""
    accuracy = np.array(list(metrics["accuracy"].values()))  # corruptions x severities
    rare = np.array(list(metrics["rare_accuracy"].values()))
    return [{"severity": int(s), "accuracy": float(a), "rare_accuracy": float(r)}
            for s, a, r in zip(metrics["severities"], accuracy.mean(axis=0), rare.mean(axis=0),
                               strict=True)]
