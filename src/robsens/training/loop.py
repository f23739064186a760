"""Train one model (a ``models:`` entry) for one seed, resumable from per-epoch checkpoints.

Data stay in memory as tensors on the device; each epoch draws its shuffling and the
method's randomness from an RNG seeded by (seed, epoch), so a run killed mid-way and
resumed from its last checkpoint ends with exactly the numbers of an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from robsens.blocks.model import build_model
from robsens.blocks.predict import accuracy_report, predict
from robsens.core.config import NUM_CLASSES
from robsens.core.io import load_torch, save_json, save_torch
from robsens.core.runtime import epoch_generator, make_deterministic, resolve_device
from robsens.data.corner import load_split
from robsens.methods import build_method
from robsens.pipeline import paths
from robsens.training.identity import run_identity


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
    start_epoch = 0
    if ckpt_path.is_file():
        ckpt = load_torch(ckpt_path, device)
        model.load_state_dict(ckpt["model"])
        if extra is not None:
            extra.load_state_dict(ckpt["extra"])
        optimizer.load_state_dict(ckpt["optimizer"])
        history, start_epoch = ckpt["history"], ckpt["epoch"]
        print(f"resuming {model_name} seed {seed} from epoch {start_epoch} ({ckpt_path})")

    x, y = train_split["x"], train_split["y"]
    n, bs = len(y), tcfg["batch_size"]
    for epoch in range(start_epoch, tcfg["epochs"]):
        model.train()
        g = epoch_generator(seed, epoch, device)
        order = torch.randperm(n, generator=g, device=device)
        tic, sums, steps = time.perf_counter(), {"loss": 0.0}, 0
        batches = range(0, n, bs)
        bar = tqdm(batches, desc=f"{model_name} s{seed} epoch {epoch + 1}/{tcfg['epochs']}",
                   leave=False, disable=None)
        for start in bar:
            idx = order[start : start + bs]
            loss, stats = method.loss(x[idx], y[idx], epoch, g)
            optimizer.zero_grad(set_to_none=True)
            # the weights' gradients only: FCL's input x requires grad (its utility), and a
            # plain backward would also recompute d loss/dx through the first convolution
            loss.backward(inputs=trainable)
            optimizer.step()
            sums["loss"] += loss.item()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
        row = {"epoch": epoch + 1, **{f"train_{k}": v / steps for k, v in sums.items()}}
        model.eval()
        val = accuracy_report(predict(model, val_split["x"], params["evaluate"]["batch_size"]),
                              val_split["y"])
        row["val_accuracy"] = val["accuracy"]
        if not math.isnan(val["rare_accuracy"]):  # a study without the rare classes: none
            row["val_rare_accuracy"] = val["rare_accuracy"]
        history.append(row)
        # Wall time goes to the log only: history.json is an artifact and must be the same
        # bytes on every run.
        print(" ".join(f"{k}={v:.4g}" for k, v in row.items()),
              f"seconds={time.perf_counter() - tic:.1f}", flush=True)
        save_torch(ckpt_path, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "extra": extra.state_dict() if extra is not None else None,
            "epoch": epoch + 1, "history": history,
        })
        if on_epoch is not None:
            on_epoch(row)

    save_torch(out_dir / paths.MODEL_FILE, {
        "state_dict": model.state_dict(), "model_cfg": params["model"],
        "num_classes": num_classes,
        "model_name": model_name, "hparams": method.hparams, "seed": seed, "identity": identity,
    })
    save_json(out_dir / paths.HISTORY_FILE, {
        "model": model_name, "method": hparams["method"], "seed": seed,
        "identity": identity, "device": str(device), "epochs": history,
    })
    return {"history": history, "identity": identity}
