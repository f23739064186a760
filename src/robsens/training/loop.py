"""Train one model (a ``models:`` entry) for one seed until it converges, resumable from
per-epoch checkpoints.

Every method trains under one rule (:mod:`robsens.training.schedule`): a warmed-up rate cut
on validation plateaus, stopped when the validation loss stalls after the last cut; the
model is the best epoch's weights, and ``history.json`` records how it got there (epochs
run, best epoch, whether the rule fired before ``train.max_epochs``, the validation curve and
the method's per-epoch diagnostics). Data stay in memory as tensors on the device; each epoch
draws its shuffling and the method's randomness from an RNG seeded by (seed, epoch), and the
checkpoint holds the rule's state and the best weights, so a run killed mid-way and resumed
from its last checkpoint ends with exactly the bytes of an uninterrupted run.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from robsens.blocks.model import build_model
from robsens.blocks.predict import accuracy_report, predict_with_loss
from robsens.core.domain import NUM_CLASSES
from robsens.core.io import load_torch, save_json, save_torch
from robsens.core.runtime import epoch_generator, make_deterministic, resolve_device
from robsens.data.corner import load_split
from robsens.methods import build_method
from robsens.pipeline import paths
from robsens.training import schedule
from robsens.training.identity import run_identity

# Diagnostics (Method.diagnostics) run once per epoch on the first images of the validation
# split, with an RNG of their own so the training stream is the same with or without them.
DIAGNOSTIC_IMAGES = 256
DIAGNOSTIC_STREAM = 1_000_000


def train(params: dict[str, Any], model_name: str, seed: int, data_dir: str | Path,
          out_dir: str | Path, checkpoint_dir: str | Path,
          on_epoch: Callable[[dict[str, float]], None] | None = None, *,
          stage: str = "train", num_classes: int = NUM_CLASSES) -> dict[str, Any]:
    """Train, write ``model.pt`` and ``history.json`` atomically, return the history.

    ``on_epoch`` receives each newly computed epoch's row once its checkpoint is on disk
    (the live MLflow run logs it then, so a tracked epoch is never one a crash loses).
    ``stage`` (whose params make the run key) and ``num_classes`` (the head's width) differ
    between the corner-digit study and the 10-class spurious-background study."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    make_deterministic(seed, params["threads"])
    device = resolve_device(params["device"])
    hparams = params["models"][model_name]
    tcfg = params["train"]

    train_split = load_split(data_dir, "train", device)
    val_split = load_split(data_dir, "val", device)
    model = build_model(params["model"], num_classes).to(device)
    method = build_method(model, params, model_name)
    extra = method.extra_modules()
    if extra is not None:
        extra.to(device)
    trainable = list(model.parameters()) + (list(extra.parameters()) if extra else [])
    optimizer = torch.optim.Adam(trainable, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])

    identity = run_identity(params, model_name, seed, data_dir, str(device), stage)
    ckpt_path = Path(checkpoint_dir) / f"{identity}.pt"
    history: list[dict[str, float]] = []
    state, best = schedule.initial_state(), _weights(model, extra)
    start_epoch = 0
    if ckpt_path.is_file():
        ckpt = load_torch(ckpt_path, device)
        model.load_state_dict(ckpt["model"])
        if extra is not None:
            extra.load_state_dict(ckpt["extra"])
        optimizer.load_state_dict(ckpt["optimizer"])
        history, start_epoch = ckpt["history"], ckpt["epoch"]
        state, best = ckpt["schedule"], ckpt["best"]
        print(f"resuming {model_name} seed {seed} from epoch {start_epoch} ({ckpt_path})")

    x, y = train_split["x"], train_split["y"]
    if (keep := method.training_examples(train_split)) is not None:
        x, y = x[keep], y[keep]
    n, bs = len(y), tcfg["batch_size"]
    steps_per_epoch = math.ceil(n / bs)
    eval_bs = params["evaluate"]["batch_size"]
    probe = {k: val_split[k][:DIAGNOSTIC_IMAGES] for k in ("x", "y")}
    epoch = start_epoch
    while not state["converged"] and epoch < tcfg["max_epochs"]:
        model.train()
        g = epoch_generator(seed, epoch, device)
        order = torch.randperm(n, generator=g, device=device)
        tic, sums = time.perf_counter(), {"loss": 0.0}
        bar = tqdm(range(steps_per_epoch), leave=False, disable=None,
                   desc=f"{model_name} s{seed} epoch {epoch + 1} (max {tcfg['max_epochs']})")
        for step in bar:
            lr = schedule.step_lr(tcfg, state, epoch * steps_per_epoch + step, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = order[step * bs : (step + 1) * bs]
            loss, stats = method.loss(x[idx], y[idx], epoch, g)
            optimizer.zero_grad(set_to_none=True)
            # the weights' gradients only: FCL's input x requires grad (its utility), and a
            # plain backward would also recompute d loss/dx through the first convolution
            loss.backward(inputs=trainable)
            optimizer.step()
            sums["loss"] += loss.item()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
        epoch += 1
        row = {"epoch": epoch, "lr": lr,
               **{f"train_{k}": v / steps_per_epoch for k, v in sums.items()}}
        model.eval()
        pred, val_loss = predict_with_loss(model, val_split["x"], val_split["y"], eval_bs)
        val = accuracy_report(pred, val_split["y"])
        row["val_loss"], row["val_accuracy"] = val_loss, val["accuracy"]
        if not math.isnan(val["rare_accuracy"]):  # a study without the rare classes: none
            row["val_rare_accuracy"] = val["rare_accuracy"]
        diagnostics = method.diagnostics(probe["x"], probe["y"], epoch - 1, epoch_generator(
            seed, DIAGNOSTIC_STREAM + epoch, device))
        row.update({f"diag_{k}": v for k, v in diagnostics.items()})
        is_best, _ = schedule.after_epoch(tcfg["convergence"], state, epoch, val_loss)
        if is_best:
            best = _weights(model, extra)
        history.append(row)
        # Wall time goes to the log only: history.json is an artifact and must be the same
        # bytes on every run.
        print(" ".join(f"{k}={v:.4g}" for k, v in row.items()),
              f"seconds={time.perf_counter() - tic:.1f}", flush=True)
        save_torch(ckpt_path, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "extra": extra.state_dict() if extra is not None else None,
            "epoch": epoch, "history": history, "schedule": state, "best": best,
        })
        if on_epoch is not None:
            on_epoch(row)

    convergence = convergence_record(tcfg, state, history)
    print(f"{model_name} seed {seed}: " + ("converged" if convergence["converged"] else
          f"NOT converged by max_epochs {tcfg['max_epochs']}") +
          f" after {convergence['epochs_run']} epochs, best epoch {convergence['best_epoch']}")
    save_torch(out_dir / paths.MODEL_FILE, {
        "state_dict": best["model"], "model_cfg": params["model"],
        "num_classes": num_classes,
        "model_name": model_name, "hparams": method.hparams, "seed": seed, "identity": identity,
    })
    save_json(out_dir / paths.HISTORY_FILE, {
        "model": model_name, "method": hparams["method"], "seed": seed,
        "identity": identity, "device": str(device), "convergence": convergence,
        "epochs": history,
    })
    return {"history": history, "identity": identity, "convergence": convergence}


def _weights(model: torch.nn.Module, extra: torch.nn.Module | None) -> dict[str, Any]:
    """A copy of the current weights (the best epoch's are the model)."""
    return {"model": copy.deepcopy(model.state_dict()),
            "extra": copy.deepcopy(extra.state_dict()) if extra is not None else None}


def convergence_record(tcfg: dict[str, Any], state: dict[str, Any],
                       history: list[dict[str, float]]) -> dict[str, Any]:
    """How training ended: epochs run, the best epoch (whose weights are the model) and its
    validation numbers, and whether the rule fired before ``max_epochs`` (converged)."""
    best = history[state["best_epoch"] - 1] if state["best_epoch"] else {}
    return {"converged": bool(state["converged"]), "epochs_run": len(history),
            "max_epochs": tcfg["max_epochs"], "best_epoch": state["best_epoch"],
            "lr_cuts": state["cuts"],
            **{k: best[k] for k in ("val_loss", "val_accuracy", "val_rare_accuracy")
               if k in best}}
