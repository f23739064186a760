"""Clean evaluation: accuracy, per-class and rare-class accuracy, paired-probe flip rate."""

from __future__ import annotations

import torch

from robsens.blocks.predict import accuracy_report, predict
from robsens.core.config import RARE_CLASSES


def flip_rates(pred_plain: torch.Tensor, pred_corner: torch.Tensor, centre: torch.Tensor
               ) -> dict[str, float]:
    """How often adding a corner digit changes the prediction, by context.

    Under a centre 0-4 the corner decides the label (flipping is right); under 5-9 it
    carries no information (flipping is a failure of robustness).
    """
    flipped = (pred_plain != pred_corner).float()
    useful = centre < 5
    return {"flip_rate_centre_0_4": flipped[useful].mean().item(),
            "flip_rate_centre_5_9": flipped[~useful].mean().item()}


def evaluate_clean(model: torch.nn.Module, test: dict, probe: dict, batch_size: int) -> dict:
    """All clean metrics of one model on the test split and the paired probe."""
    pred = predict(model, test["x"], batch_size)
    report = accuracy_report(pred, test["y"])
    correct = (pred == test["y"]).int()
    rare = torch.isin(test["y"], torch.tensor(RARE_CLASSES, device=test["y"].device))
    # per test image, the outcome each accuracy averages: the claims pair models image by
    # image within a seed (robsens.core.stats.per_image), so thousands of images count
    report["per_image"] = {"accuracy": correct.tolist(), "rare_accuracy": correct[rare].tolist()}
    pred_plain = predict(model, probe["x_plain"], batch_size)
    pred_corner = predict(model, probe["x_corner"], batch_size)
    report.update(flip_rates(pred_plain, pred_corner, probe["centre"]))
    report["probe_accuracy_with_corner"] = (pred_corner == probe["y_corner"]).float().mean().item()
    return report
