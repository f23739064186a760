"""Per-step training time of every method on the default model and batch, in one run.

Prints the median step time of each ``models:`` entry and its ratio to ERM's, measured in
the same process on the same batch (ratios are what transfer across machines).
"""

from __future__ import annotations

import statistics
import time

import torch

from robsens.config import NUM_CLASSES
from robsens.methods import METHODS
from robsens.model import build_model
from robsens.runtime import make_deterministic, resolve_device

WARMUP, REPEATS = 3, 15


def step_seconds(params: dict, model_name: str, x: torch.Tensor, y: torch.Tensor) -> float:
    """Median wall time of one optimiser step (loss, backward, update)."""
    hparams = params["models"][model_name]
    model = build_model(params["model"], NUM_CLASSES).to(x.device)
    method = METHODS[hparams["method"]](model, hparams)
    extra = method.extra_modules()
    trainable = list(model.parameters()) + (list(extra.to(x.device).parameters()) if extra else [])
    opt = torch.optim.Adam(trainable, lr=params["train"]["lr"])
    g = torch.Generator(device=x.device).manual_seed(0)
    epoch = max(hparams.get("warmup_epochs", 0), 0)  # measure the full objective, not warm-up
    times = []
    for i in range(WARMUP + REPEATS):
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        loss, _ = method.loss(x, y, epoch, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= WARMUP:
            times.append(time.perf_counter() - tic)
    return statistics.median(times)


def run(params: dict) -> None:
    make_deterministic(0, params["threads"])
    device = resolve_device(params["device"])
    bs = params["train"]["batch_size"]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(bs, 1, 28, 28, generator=g).to(device)
    y = torch.randint(NUM_CLASSES, (bs,), generator=g).to(device)
    base = step_seconds(params, "erm", x, y) if "erm" in params["models"] else None
    print(f"device {device}, threads {params['threads']}, batch {bs}, median of {REPEATS} steps")
    print(f"{'model':<14}{'method':<12}{'ms/step':>10}{'x ERM':>8}")
    for name, hp in params["models"].items():
        sec = base if name == "erm" else step_seconds(params, name, x, y)
        ratio = f"{sec / base:8.2f}" if base else "     n/a"
        print(f"{name:<14}{hp['method']:<12}{sec * 1e3:10.2f}{ratio}")
