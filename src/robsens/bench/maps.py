"""Cost of the evaluation maps against the passes they need, on the same images.

The maps of ``n`` images (:func:`robsens.sensitivity.maps.compute_maps`) need, at the least:

- the gradient utility: one forward with its graph and one input gradient (a *pair*);
- the gradient sensitivity: one forward with its graph and ``n_probes`` input-gradient
  backward passes (one per random probe);
- the perturbation maps: ``1 + P`` forwards without a graph (the clean images and one
  perturbed copy per patch, ``P`` patches).

Those passes are timed on their own, on the same images and in the same chunks, round-robin
with the maps (machine drift hits both alike), and their sum is the floor. The benchmark
prints the maps' time and the floor in units of one pair, and their ratio (target 1.5).
It also times the output-level measures (:func:`robsens.sensitivity.maps.output_sensitivity`)
on the same number of probe pairs against their floor, three forward passes (the images with
the corner digit, without it and with it perturbed).
Weights are random and images uniform noise: the cost does not depend on either.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from robsens.blocks.model import build_model
from robsens.blocks.regions import region_masks
from robsens.core.domain import NUM_CLASSES
from robsens.core.runtime import make_deterministic
from robsens.sensitivity.maps import MapSettings, compute_maps, output_sensitivity

TARGET = 1.5  # maps / floor
WARMUP, ROUNDS = 1, 5


def pass_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int
               ) -> dict[str, Callable[[], None]]:
    """The passes the floor is made of, over ``x`` in chunks of ``chunk`` images."""
    chunks = [(x[i : i + chunk], y[i : i + chunk]) for i in range(0, x.shape[0], chunk)]

    def forward() -> None:
        with torch.no_grad():
            for xb, yb in chunks:
                F.cross_entropy(model(xb), yb)

    def graph_forward() -> None:
        for xb, yb in chunks:
            F.cross_entropy(model(xb.detach().requires_grad_(True)), yb)

    def pair() -> None:
        for xb, yb in chunks:
            xr = xb.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), yb, reduction="sum"), xr)

    return {"forward": forward, "graph_forward": graph_forward, "pair": pair}


def run_benchmark(model: nn.Module, n_images: int, s: MapSettings, seed: int,
                  rounds: int = ROUNDS) -> dict[str, float]:
    """Median seconds of the maps of ``n_images`` and of each pass, and the floor."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand((n_images, 1, 28, 28), generator=gen)
    y = torch.randint(0, NUM_CLASSES, (n_images,), generator=gen)
    _, corner = region_masks(10, "top_right")
    probe = {"x_corner": x, "x_plain": x * ~corner, "y_corner": y}
    steps = {"maps": lambda: compute_maps(model, x, y, s, gen),
             "output": lambda: output_sensitivity(model, probe, corner, s, gen),
             **pass_steps(model, x, y, s.chunk_size)}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(WARMUP + rounds):
        for name, step in steps.items():
            tic = time.perf_counter()
            step()
            if r >= WARMUP:
                times[name].append(time.perf_counter() - tic)
    t = {name: statistics.median(v) for name, v in times.items()}
    n_patches = (28 // s.patch) ** 2
    backward = t["pair"] - t["graph_forward"]
    t["floor"] = (t["pair"] + t["graph_forward"] + s.n_probes * backward
                  + (1 + n_patches) * t["forward"])
    t["n_patches"] = n_patches
    return t


def run(params: dict) -> None:
    """``python -m robsens bench maps``: the default model and map settings of params.yaml."""
    cfg = params["sensitivity"]
    make_deterministic(0, params["threads"])
    model = build_model(params["model"], NUM_CLASSES).eval()
    s = MapSettings.from_params(cfg)
    n = cfg["bench"]["n_images"]
    t = run_benchmark(model, n, s, cfg["seed"])
    pair = t["pair"]
    ratio = t["maps"] / t["floor"]
    print(f"maps of {n} images (patch {s.patch}: {t['n_patches']} patches, {s.n_probes} "
          f"probes, {s.perturbation}, chunks of {s.chunk_size}), "
          f"{torch.get_num_threads()} thread(s), median of {ROUNDS} round-robin runs\n"
          f"  one pair (forward + input gradient of the {n} images): {pair:.3f} s; forward "
          f"alone {t['forward']:.3f} s, with its graph {t['graph_forward']:.3f} s\n"
          f"  passes the maps need: 1 pair (utility) + 1 forward and {s.n_probes} backward "
          f"(sensitivity) + {1 + t['n_patches']} forwards (perturbation) = "
          f"{t['floor']:.2f} s = {t['floor'] / pair:.1f} pairs\n"
          f"  maps: {t['maps']:.2f} s = {t['maps'] / pair:.1f} pairs: {ratio:.2f}x the passes "
          f"(target <= {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})\n"
          f"  output-level measures of {n} probe pairs: {t['output']:.3f} s = "
          f"{t['output'] / t['forward']:.1f} forwards (floor 3: with, without and with the "
          "corner perturbed)")
