"""Predictions and accuracy summaries: shared by training (validation) and every evaluation."""

from __future__ import annotations

import torch

from robsens.core.config import NUM_CLASSES, RARE_CLASSES


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Predicted classes for a tensor of images, in batches, on the model's device."""
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def accuracy_report(pred: torch.Tensor, y: torch.Tensor) -> dict:
    """Overall, per-class and rare-class (10-14) accuracy; NaN for an absent class."""
    correct = (pred == y).float()
    per_class = [correct[y == c].mean().item() if (y == c).any() else float("nan")
                 for c in range(NUM_CLASSES)]
    rare = torch.isin(y, torch.tensor(RARE_CLASSES, device=y.device))
    return {
        "accuracy": correct.mean().item(),
        "rare_accuracy": correct[rare].mean().item() if rare.any() else float("nan"),
        "per_class_accuracy": per_class,
    }
