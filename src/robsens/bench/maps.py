"""Benchmark of the evaluation maps: batched code against a naive per-image, per-patch loop.

The naive reference is what one would write first: for each image one backward pass for the
utility, one backward pass per embedding dimension for the exact Jacobian column norms, and
one forward pass per perturbed patch. It runs on a few images and is extrapolated linearly;
its perturbation maps are checked against the batched ones so both compute the same thing.
Weights are random and images uniform noise: the cost of the maps does not depend on either.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from robsens.blocks.attribution import patch_masks, perturbation_maps
from robsens.blocks.model import build_model
from robsens.blocks.perturb import perturbed_values
from robsens.core.config import NUM_CLASSES
from robsens.core.runtime import make_deterministic
from robsens.sensitivity.maps import MapSettings, compute_maps

TARGET_SPEEDUP = 20.0


def naive_maps(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, regions: torch.Tensor, values: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Reference maps with Python loops over images, embedding dimensions and patches."""
    n, n_regions = x.shape[0], regions.shape[0]
    utility_px, sensitivity_px = torch.zeros_like(x), torch.zeros_like(x)
    utility, sensitivity = torch.zeros(n, n_regions), torch.zeros(n, n_regions)
    for i in range(n):
        xi = x[i : i + 1].clone().requires_grad_(True)
        g = model.embed(xi)
        loss = F.cross_entropy(model.head(g), y[i : i + 1])
        utility_px[i] = torch.autograd.grad(loss, xi, retain_graph=True)[0].abs()[0]
        rows = [torch.autograd.grad(g[0, d], xi, retain_graph=True)[0] for d in range(g.shape[1])]
        sensitivity_px[i] = torch.cat(rows).norm(dim=0)
        with torch.no_grad():
            for r in range(n_regions):
                xr = torch.where(regions[r], values[i : i + 1], xi)
                gr = model.embed(xr)
                loss_r = F.cross_entropy(model.head(gr), y[i : i + 1])
                utility[i, r] = (loss_r - loss).abs()
                sensitivity[i, r] = (gr - g).norm() / g.norm()
    return {
        "utility_px": utility_px,
        "sensitivity_px": sensitivity_px,
        "utility_perturbation": utility,
        "sensitivity_perturbation": sensitivity,
    }


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def run_benchmark(
    model: nn.Module, n_images: int, n_naive: int, s: MapSettings, seed: int
) -> dict[str, float]:
    """Seconds for the batched maps of ``n_images`` and the naive loop's extrapolated time."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((n_images, 1, 28, 28), generator=gen)
    y = torch.randint(0, model.head.out_features, (n_images,), generator=gen)
    _, batched_s = _timed(compute_maps, model, x, y, s, gen)

    regions = patch_masks(28, s.patch, x.device)
    xs, ys = x[:n_naive], y[:n_naive]
    values = perturbed_values(xs, s.perturbation, s.strength, torch.Generator().manual_seed(seed))
    naive, naive_s = _timed(naive_maps, model, xs, ys, regions, values)
    check = perturbation_maps(  # same draw as ``values``: both must agree
        model,
        xs,
        ys,
        regions,
        s.perturbation,
        s.strength,
        torch.Generator().manual_seed(seed),
        s.chunk_size,
    )
    for key, batched_map in zip(
        ("utility_perturbation", "sensitivity_perturbation"), check, strict=True
    ):
        torch.testing.assert_close(naive[key], batched_map, atol=1e-5, rtol=1e-4)
    naive_total = naive_s * n_images / n_naive
    return {
        "n_images": n_images,
        "n_naive": n_naive,
        "batched_s": batched_s,
        "naive_extrapolated_s": naive_total,
        "speedup": naive_total / batched_s,
    }


def run(params: dict) -> None:
    """``python -m robsens bench maps``: the default model and map settings of params.yaml."""
    cfg, bench = params["sensitivity"], params["sensitivity"]["bench"]
    make_deterministic(0, params["threads"])
    model = build_model(params["model"], NUM_CLASSES).eval()
    settings = MapSettings.from_params(cfg)
    result = run_benchmark(model, bench["n_images"], bench["n_naive"], settings, cfg["seed"])
    print(
        f"maps of {result['n_images']} images (patch {settings.patch}, {settings.n_probes} "
        f"probes, {settings.perturbation}), {torch.get_num_threads()} thread(s)\n"
        f"  batched: {result['batched_s']:.2f} s\n"
        f"  naive per-image/per-patch loop: {result['naive_extrapolated_s']:.2f} s "
        f"(timed on {result['n_naive']} images, extrapolated)\n"
        f"  speed-up: {result['speedup']:.1f}x (target {TARGET_SPEEDUP:.0f}x: "
        f"{'met' if result['speedup'] >= TARGET_SPEEDUP else 'NOT met'})"
    )
