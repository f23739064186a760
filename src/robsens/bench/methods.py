"""Per-step training time of every method on the default model and batch, in one run.

Prints the median step time of each ``models:`` entry and its ratio to ERM's. The methods
are timed round-robin (one step of each per round), so machine drift hits all of them alike
and the ratios, which are what transfer across machines, stay steady.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from robsens.blocks.model import build_model
from robsens.core.config import NUM_CLASSES
from robsens.core.runtime import make_deterministic, resolve_device
from robsens.methods import METHODS, model_roles

WARMUP, ROUNDS = 3, 30


def make_step(params: dict, model_name: str, x: torch.Tensor, y: torch.Tensor
              ) -> Callable[[], float]:
    """A closure doing one optimiser step (loss, backward, update) and returning its seconds."""
    hparams = params["models"][model_name]
    model = build_model(params["model"], NUM_CLASSES).to(x.device)
    method = METHODS[hparams["method"]](model, hparams)
    extra = method.extra_modules()
    trainable = list(model.parameters()) + (list(extra.to(x.device).parameters()) if extra else [])
    opt = torch.optim.Adam(trainable, lr=params["train"]["lr"])
    g = torch.Generator(device=x.device).manual_seed(0)
    epoch = hparams.get("warmup_epochs", 0)  # measure the full objective, not the warm-up

    def step() -> float:
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        loss, _ = method.loss(x, y, epoch, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - tic

    return step


def random_batch(params: dict, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """One seeded training batch of the configured size (timing needs no real digits)."""
    g = torch.Generator().manual_seed(0)
    bs = params["train"]["batch_size"]
    x = torch.rand(bs, 1, 28, 28, generator=g).to(device)
    return x, torch.randint(NUM_CLASSES, (bs,), generator=g).to(device)


def round_robin(steps: dict[str, Callable[[], float]], warmup: int, rounds: int
                ) -> dict[str, list[float]]:
    """Seconds of each step over ``rounds`` rounds of one step each (after ``warmup``): drift
    of the machine hits every step alike, so their ratios stay steady."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(warmup + rounds):
        for name, step in steps.items():
            seconds = step()
            if r >= warmup:
                times[name].append(seconds)
    return times


def run(params: dict) -> None:
    make_deterministic(0, params["threads"])
    device = resolve_device(params["device"])
    bs = params["train"]["batch_size"]
    x, y = random_batch(params, device)
    steps = {name: make_step(params, name, x, y) for name in params["models"]}
    median = {name: statistics.median(t)
              for name, t in round_robin(steps, WARMUP, ROUNDS).items()}
    baseline = next((m for m, r in model_roles(params).items() if r.role == "baseline"), None)
    base = median.get(baseline)
    print(f"device {device}, threads {params['threads']}, batch {bs}, "
          f"median of {ROUNDS} round-robin steps")
    print(f"{'model':<14}{'method':<12}{'ms/step':>10}{'x ' + str(baseline):>12}")
    for name, sec in median.items():
        ratio = f"{sec / base:12.2f}" if base else "         n/a"
        print(f"{name:<14}{params['models'][name]['method']:<12}{sec * 1e3:10.2f}{ratio}")
