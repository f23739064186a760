"""How contextual each FCL utility estimator is: the share of H on the corner digit, by context.

FCL's idea (docs/science.md sections 2, 3 and 9) needs H, the top-utility patches, to cover
the corner digit where it decides the label (centres 0-4, classes 10-14) and not where it
carries nothing (centres 5-9). On the validation probe (every image has a corner digit) and a
trained corner-digit model (``results/models/<model>/seed<seed>/model.pt``, ERM's by default),
this prints for each estimator (``utility: gradient | masking``, at FCL's patch size and k) the
share of H that touches the corner square in each context, their ratio, the share a random H
would have, and the estimator's time per image. Validation data only: the choice of estimator
may be made from it.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from robsens.blocks.model import load_trained
from robsens.core.domain import RARE_CLASSES
from robsens.core.runtime import make_deterministic, resolve_device
from robsens.data.corner import load_split
from robsens.methods import build_method
from robsens.methods.fcl_oracle import FCLOracle
from robsens.pipeline import paths

MODEL, SEED, FCL_MODEL = "erm", 0, "fcl"
ESTIMATORS = ("gradient", "masking")


def with_fcl(params: dict, **hparams: object) -> dict:
    """``params`` with FCL's hyperparameters changed as given."""
    return {**params, "models": {**params["models"], FCL_MODEL: {
        **params["models"][FCL_MODEL], **hparams}}}


def corner_share(params: dict, estimator: str, model: torch.nn.Module, x: torch.Tensor,
                 y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Per image, the share of H (FCL's selection with ``estimator``) on corner patches; and
    the estimator's seconds per image."""
    trial = with_fcl(params, utility=estimator)
    method = build_method(model, trial, FCL_MODEL)
    corner = corner_patches(trial, model)
    generator = torch.Generator().manual_seed(0)
    shares, tic = [], time.perf_counter()
    for i in range(0, len(y), 100):
        xb = x[i : i + 100].detach().requires_grad_(estimator == "gradient")
        ce_sum = F.cross_entropy(model(xb), y[i : i + 100], reduction="sum")
        high, _ = method.feature_sets(method.utility(xb, y[i : i + 100], ce_sum),
                                      y[i : i + 100], generator)
        shares.append((high & corner).sum(1) / high.sum(1))
    return torch.cat(shares), (time.perf_counter() - tic) / len(y)


def corner_patches(params: dict, model: torch.nn.Module) -> torch.Tensor:
    """(1, P): FCL's patches that touch the corner square, as the oracle defines them."""
    return FCLOracle(model, FCLOracle.resolve(params["models"][FCL_MODEL], params)
                     ).corner_patches


def run(params: dict) -> None:
    make_deterministic(0, params["threads"])
    device = resolve_device("cpu")
    weights = paths.fill(paths.MODEL, model=MODEL, seed=SEED)
    if not weights.is_file():
        raise SystemExit(f"error: {weights} not found: train it first "
                         f"(snakemake --cores all {weights})")
    model = load_trained(weights, device)
    probe = load_split(paths.DATA_DIR, "val_probe", device)
    x, y = probe["x_corner"], probe["y_corner"]
    decides = torch.isin(y, torch.tensor(RARE_CLASSES))
    print(f"H on the corner digit, {MODEL} seed {SEED}, validation probe ({len(y)} images, "
          f"{int(decides.sum())} where the corner decides)")
    print(f"{'utility':<10} {'patch':>5} {'centre 0-4':>11} {'centre 5-9':>11} {'ratio':>7} "
          f"{'random H':>9} {'ms/image':>9}")
    # FCL's patch, and the evaluation maps' (sensitivity.patch) where it differs
    for patch in dict.fromkeys((params["models"][FCL_MODEL]["patch"],
                                params["sensitivity"]["patch"])):
        trial = with_fcl(params, patch=patch)
        random_share = corner_patches(trial, model).float().mean().item()
        for estimator in ESTIMATORS:
            share, seconds = corner_share(trial, estimator, model, x, y)
            on, off = share[decides].mean().item(), share[~decides].mean().item()
            print(f"{estimator:<10} {patch:>5} {on:>11.1%} {off:>11.1%} "
                  f"{on / max(off, 1e-12):>7.2f} {random_share:>9.1%} {1000 * seconds:>9.2f}")
