"""Clean evaluation: accuracy, per-class and rare-class accuracy, paired-probe flip rate."""

from __future__ import annotations

import torch

from robsens.blocks.predict import accuracy_report, predict
from robsens.core.domain import RARE_CLASSES


def flip_outcomes(pred_plain: torch.Tensor, pred_corner: torch.Tensor, centre: torch.Tensor
                  ) -> dict[str, torch.Tensor]:
    """Per probe image, 1 where adding a corner digit changes the prediction, by context.

    Under a centre 0-4 the corner decides the label (flipping is right); under 5-9 it
    carries no information (flipping is a failure of robustness). Keys are the flip rates'
    names: each rate is the mean of its outcomes, which the clean metrics also store per
    image so that a claim can pair models probe image by probe image.
    """
    flipped = (pred_plain != pred_corner).int()
    useful = centre < 5
    return {"flip_rate_centre_0_4": flipped[useful], "flip_rate_centre_5_9": flipped[~useful]}


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
    flips = flip_outcomes(pred_plain, pred_corner, probe["centre"])
    report.update({name: outcomes.float().mean().item() for name, outcomes in flips.items()})
    report["per_image"].update({name: outcomes.tolist() for name, outcomes in flips.items()})
    report["probe_accuracy_with_corner"] = (pred_corner == probe["y_corner"]).float().mean().item()
    return report
