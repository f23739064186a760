"""Per-step training time of every method on the default model and batch, beside its floor.

Prints the median step time of each ``models:`` entry, its ratio to ERM's, and the floor its
objective implies, built from passes of the same model on the same batch timed in the same
rounds: a forward (with its graph), a forward with the input gradient only (no weight
gradients), and a forward, full backward and optimiser step (what ERM needs). By role:

- baseline and noise curve: one forward-backward pair;
- adversarial curve: ``steps`` input-gradient pairs (the PGD attack), then one pair;
- FCL and its ablation: the forward, the input gradient of the utility, two view forwards
  and one backward through the three batch-sized graphs, i.e. input-gradient pair + 3 pairs
  - 1 forward (plus FCL's feature selection, timed apart as "views").

Everything is timed round-robin (one step of each per round), so machine drift hits all
alike and the ratios, which are what transfer across machines, stay steady.

Then, from the trained models on disk (``history.json``), the steps each model took to
converge under the study's rule (median and range over seeds, per image study), and the
training time those steps cost at the measured step time: where compute goes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from robsens.blocks.attribution import patch_reduce
from robsens.blocks.model import build_model
from robsens.core.domain import NUM_CLASSES
from robsens.core.runtime import make_deterministic, resolve_device
from robsens.methods import build_method, model_roles
from robsens.training.gates import CONTRASTIVE_ROLES, STUDIES, histories

WARMUP, ROUNDS = 3, 30
FCL_OVER_ERM_TARGET = 3.5


def make_step(params: dict, model_name: str, x: torch.Tensor, y: torch.Tensor
              ) -> Callable[[], float]:
    """A closure doing one optimiser step (loss, backward, update) and returning its seconds."""
    hparams = params["models"][model_name]
    model = build_model(params["model"], NUM_CLASSES).to(x.device)
    method = build_method(model, params, model_name)
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
        loss.backward(inputs=trainable)  # as training does (robsens.training.loop)
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


def _timer(fn: Callable[[], object], device: torch.device) -> Callable[[], float]:
    def timed() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - tic

    return timed


def passes(params: dict, x: torch.Tensor, y: torch.Tensor) -> dict[str, Callable[[], float]]:
    """Timed closures of the passes the floors are built from (see the module doc)."""
    model = build_model(params["model"], NUM_CLASSES).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=params["train"]["lr"])

    def forward() -> None:
        F.cross_entropy(model(x), y)

    def input_gradient() -> None:
        xr = x.detach().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)

    def pair() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {f"pass:{name}": _timer(fn, x.device) for name, fn in
            (("forward", forward), ("input_gradient", input_gradient), ("pair", pair))}


def views_step(params: dict, name: str, x: torch.Tensor) -> Callable[[], float]:
    """FCL's feature selection and views alone (utility, H and L, perturbed copies)."""
    method = build_method(build_model(params["model"], NUM_CLASSES).to(x.device), params, name)
    g = torch.Generator(device=x.device).manual_seed(0)
    grad = torch.randn(x.shape, generator=g, device=x.device)
    y = torch.zeros(len(x), dtype=torch.long, device=x.device)

    def select_and_perturb() -> None:
        utility = patch_reduce(grad.abs(), method.hparams["patch"], "sum")
        method.views(x, *method.feature_sets(utility, y, g), g)

    return _timer(select_and_perturb, x.device)


def floor(role: str, hparams: dict, t: dict[str, float]) -> tuple[float, str]:
    """The floor of one step of a method with ``role``, and how it is made up."""
    fwd, bx, pair = t["pass:forward"], t["pass:input_gradient"], t["pass:pair"]
    if role == "adversarial_curve":
        return hparams["steps"] * bx + pair, f"{hparams['steps']} x input-grad pair + 1 pair"
    if role in CONTRASTIVE_ROLES:
        return bx + 3 * pair - fwd + t["views"], "input-grad pair + 3 pairs - 1 fwd + views"
    return pair, "1 pair"


def run(params: dict) -> None:
    make_deterministic(0, params["threads"])
    device = resolve_device(params["device"])
    bs = params["train"]["batch_size"]
    x, y = random_batch(params, device)
    roles = model_roles(params)
    steps = {name: make_step(params, name, x, y) for name in params["models"]}
    steps.update(passes(params, x, y))
    fcl = next((m for m, r in roles.items() if r.role == "fcl"), None)
    if fcl is not None:
        steps["views"] = views_step(params, fcl, x)
    median = {name: statistics.median(t)
              for name, t in round_robin(steps, WARMUP, ROUNDS).items()}
    baseline = next((m for m, r in roles.items() if r.role == "baseline"), None)
    base = median.get(baseline)
    print(f"device {device}, threads {params['threads']}, batch {bs}, "
          f"median of {ROUNDS} round-robin steps")
    fwd, bx, pair = (median[f"pass:{k}"] for k in ("forward", "input_gradient", "pair"))
    print(f"passes (ms): forward {fwd * 1e3:.2f}, forward + input gradient {bx * 1e3:.2f}, "
          f"forward + backward + optimiser step (pair) {pair * 1e3:.2f}"
          + (f", FCL views {median['views'] * 1e3:.2f}" if fcl else ""))
    print(f"{'model':<14}{'method':<12}{'ms/step':>10}{'x ' + str(baseline):>10}"
          f"{'floor ms':>10}{'step/floor':>12}  floor")
    for name in params["models"]:
        sec = median[name]
        low, how = floor(roles[name].role, params["models"][name], median)
        ratio = f"{sec / base:10.2f}" if base else "       n/a"
        print(f"{name:<14}{params['models'][name]['method']:<12}{sec * 1e3:10.2f}{ratio}"
              f"{low * 1e3:10.2f}{sec / low:12.2f}  {how}")
    convergence(params, median)
    if fcl is not None and base:
        ratio = median[fcl] / base
        verdict = "met" if ratio <= FCL_OVER_ERM_TARGET else "NOT met"
        print(f"FCL / ERM step: {ratio:.2f} (target <= {FCL_OVER_ERM_TARGET}: {verdict}; "
              f"floor / ERM floor {floor('fcl', {}, median)[0] / pair:.2f})")


def convergence(params: dict, step_seconds: dict[str, float]) -> None:
    """Steps to convergence per study and model (from the histories on disk), and what they
    cost at the measured step time (a full batch of the default size)."""
    bs = params["train"]["batch_size"]
    for study in STUDIES:
        found = histories(params, study)
        if not found:
            print(f"{study.name} study: no trained models on disk (run the study first)")
            continue
        n_train = params["spurious"]["data"]["n_train"] if study.name == "spurious" else (
            params["data"]["n_train"])
        print(f"{study.name} study: epochs (and steps of {bs}) to convergence, median over "
              f"seeds [min, max]; converged seeds; training time at the step time above")
        by_model: dict[str, list[dict]] = {}
        for h in found:
            by_model.setdefault(h["model"], []).append(h["convergence"])
        for name, records in by_model.items():
            epochs = [r["epochs_run"] for r in records]
            # the cue control learns from the agreeing share only: fewer steps per epoch
            steps = statistics.median(epochs) * -(-n_train // bs)
            cost = steps * step_seconds[name] if name in step_seconds else float("nan")
            print(f"  {name:<14}{statistics.median(epochs):>6g} epochs [{min(epochs)}, "
                  f"{max(epochs)}] ~{steps:>6g} steps  {sum(r['converged'] for r in records)}"
                  f"/{len(records)} converged  ~{cost:6.0f} s")
