"""The spurious-background evaluation of one trained model: accuracy with the cue agreeing,
independent and reversed, cue reliance, and RFS on the digit's box against the cue frame.

Every metric name starts with ``spurious_``, so that the claims' per-seed table can hold them
beside the corner-digit metrics of models with the same names.

- ``spurious_accuracy``: on ``test`` (the cue agrees with the label as in training);
  ``spurious_accuracy_independent``, ``spurious_accuracy_reversed``: the same digits with the
  cue drawn independently of the label, or always the family of class (y + 5) mod 10.
- ``spurious_cue_reliance`` = accuracy(test) - accuracy(test_reversed): how much accuracy
  the model owes to the cue agreeing. Per image it is correct(test) - correct(reversed) (the
  same digit), so it gets the per-image paired test. A model that reads only the digit scores
  0, one that reads only the cue about its agreement rate (0.9 by default).
  ``spurious_independent_drop`` = accuracy(test) - accuracy(test_independent), likewise.
- ``spurious_cue_following``: the share of ``test_reversed`` images predicted as the cue's
  class (0 for a digit reader, 1 for a cue reader): where the drop goes.
- RFS on ``test`` (the training distribution, like RIVAL10's natural test images):
  foreground the digit's box, background the cue frame, class-balanced accuracy averaged
  over draws, with equal-energy and per-pixel noise; ``spurious_mean_rfs`` is the mean over
  levels for ``spurious.rfs.noise``, ``spurious_mean_rfs_<kind>`` for each kind. Lower RFS:
  more reliance on the background.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from robsens.blocks.predict import predict
from robsens.pipeline import paths
from robsens.robustness.metrics import NOISE_KINDS, rfs_curve
from robsens.spurious.data import box_masks


def regions(split: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (foreground, background) masks (N, 1, 28, 28) from the stored boxes."""
    fg = torch.from_numpy(box_masks(split["fg_box"].cpu().numpy())).unsqueeze(1)
    fg = fg.to(split["x"].device)
    return fg, ~fg


def evaluate_spurious(model: torch.nn.Module, splits: Mapping[str, Mapping[str, torch.Tensor]],
                      rfs_cfg: Mapping[str, Any], batch_size: int) -> dict[str, Any]:
    """Every spurious metric of one model, JSON-ready; ``splits``: test, test_independent and
    test_reversed as loaded by :func:`robsens.data.corner.load_split`."""
    pred = {name: predict(model, splits[name]["x"], batch_size)
            for name in paths.SPURIOUS_TEST_SPLITS}
    correct = {name: (p == splits[name]["y"]).int() for name, p in pred.items()}
    following = (pred["test_reversed"] == splits["test_reversed"]["cue"]).float().mean().item()
    acc = {name: c.float().mean().item() for name, c in correct.items()}
    test = splits["test"]
    # class-balanced, so the per-image outcomes (which average to the unbalanced accuracy)
    # are left out
    curves = {kind: rfs_curve(model, test["x"], test["y"], regions(test), rfs_cfg["sigmas"],
                              rfs_cfg["seed"], batch_size, noise=kind, draws=rfs_cfg["draws"],
                              balanced=True).curve
              for kind in NOISE_KINDS}
    means = {f"spurious_mean_rfs_{kind}": float(np.mean(c["rfs"])) for kind, c in curves.items()}
    return {
        "n_images": len(test["y"]),
        "spurious_accuracy": acc["test"],
        "spurious_accuracy_independent": acc["test_independent"],
        "spurious_accuracy_reversed": acc["test_reversed"],
        "spurious_cue_reliance": acc["test"] - acc["test_reversed"],
        "spurious_independent_drop": acc["test"] - acc["test_independent"],
        "spurious_cue_following": following,
        "spurious_mean_rfs": means[f"spurious_mean_rfs_{rfs_cfg['noise']}"],
        **means,
        "spurious_rfs": curves,
        "per_image": {
            "spurious_accuracy": correct["test"].tolist(),
            "spurious_accuracy_independent": correct["test_independent"].tolist(),
            "spurious_accuracy_reversed": correct["test_reversed"].tolist(),
            "spurious_cue_reliance": (correct["test"] - correct["test_reversed"]).tolist(),
            "spurious_independent_drop":
                (correct["test"] - correct["test_independent"]).tolist(),
        },
    }


def rfs_records(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The RFS curves as records (``dvc plots show`` draws rfs against sigma)."""
    return [{"noise": kind, "sigma": s, "rfs": r, "fg_accuracy": f, "bg_accuracy": b}
            for kind, c in metrics["spurious_rfs"].items()
            for s, r, f, b in zip(c["sigma"], c["rfs"], c["fg_accuracy"], c["bg_accuracy"],
                                  strict=True)]
