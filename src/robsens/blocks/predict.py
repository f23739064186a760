"""Predictions and accuracy summaries: shared by training (validation) and every evaluation."""

from __future__ import annotations

import torch

from robsens.core.domain import NUM_CLASSES, RARE_CLASSES


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Predicted classes for a tensor of images, in batches, on the model's device."""
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def predict_with_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                      batch_size: int) -> tuple[torch.Tensor, float]:
    """Predicted classes and the mean cross-entropy: the validation loss the convergence rule
    reads."""
    preds, total = [], torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size])
        preds.append(logits.argmax(1))
        total += torch.nn.functional.cross_entropy(
            logits, y[i : i + batch_size], reduction="sum").double()
    return torch.cat(preds), float(total / len(x))


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
