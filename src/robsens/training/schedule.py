"""The learning-rate schedule and the convergence rule every method trains under.

One rule for every model (docs/science.md section 9): the rate warms up linearly, holds at its
peak, and from epoch ``min_epochs`` on is cut by ``factor`` each time the validation loss has
not improved by more than ``min_delta`` (relative) for ``patience`` epochs; after ``cuts``
cuts, the next such stall ends training: the model has *converged*, and its weights are the
best epoch's. A model that reaches ``max_epochs`` first has not converged, and the claims do
not decide on it.

The state is a plain dict of numbers so the checkpoint holds it and a resumed run replays the
exact same decisions (the validation loss is deterministic, so are they).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def initial_state() -> dict[str, Any]:
    """The rule's state before the first epoch."""
    return {"scale": 1.0, "cuts": 0, "stalled": 0, "best_loss": math.inf, "best_epoch": 0,
            "reference_loss": math.inf, "converged": False}


def step_lr(cfg: Mapping[str, Any], state: Mapping[str, Any], step: int,
            steps_per_epoch: int) -> float:
    """The rate of global training step ``step`` (0-based): a linear warm-up over
    ``warmup_epochs``, then the peak rate times the cuts so far."""
    warmup_steps = cfg["warmup_epochs"] * steps_per_epoch
    ramp = (step + 1) / warmup_steps if step < warmup_steps else 1.0
    return cfg["lr"] * state["scale"] * ramp


def after_epoch(rule: Mapping[str, Any], state: dict[str, Any], epoch: int,
                val_loss: float) -> tuple[bool, bool]:
    """Update ``state`` with epoch ``epoch``'s (1-based) validation loss. Returns (this epoch
    is the best so far, training stops now because the rule fired)."""
    is_best = val_loss < state["best_loss"]
    if is_best:
        state["best_loss"], state["best_epoch"] = val_loss, epoch
    if val_loss < state["reference_loss"] * (1 - rule["min_delta"]):
        state["reference_loss"], state["stalled"] = val_loss, 0
        return is_best, False
    if epoch < rule["min_epochs"]:  # too early to judge a stall: training may not have begun
        return is_best, False
    state["stalled"] += 1
    if state["stalled"] < rule["patience"]:
        return is_best, False
    if state["cuts"] < rule["cuts"]:
        state["scale"] *= rule["factor"]
        state["cuts"] += 1
        state["stalled"] = 0
        return is_best, False
    state["converged"] = True
    return is_best, True
