"""The small CNN every method trains, split as f = h(g(x)) as docs/science.md section 2 needs.

``embed`` is g (the penultimate representation whose sensitivity we measure),
``head`` is h (the linear classifier). Widths come from ``params.yaml: model``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from robsens.core.domain import NUM_CLASSES
from robsens.core.errors import reading


class CornerNet(nn.Module):
    """Conv blocks (conv, max-pool, ReLU) then an MLP embedding and a linear head."""

    def __init__(self, channels: list[int], embed_dim: int, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch, side = 1, 28
        for out_ch in channels:
            # max-pool before ReLU: the same numbers and gradients (ReLU is monotone, so
            # max and ReLU commute) with the ReLU on a quarter of the pixels
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.MaxPool2d(2), nn.ReLU()]
            in_ch, side = out_ch, side // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.embedding = nn.Sequential(nn.Linear(in_ch * side * side, embed_dim), nn.ReLU())
        self.head = nn.Linear(embed_dim, num_classes)
        self.embed_dim = embed_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """g(x): the representation FCL shapes and sensitivity is measured on."""
        return self.embedding(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def build_model(model_cfg: dict, num_classes: int) -> CornerNet:
    """The model in channels-last layout: on CPU its convolutions and pooling then run 2-5x
    faster (same results); a 1-channel input is already in that layout."""
    model = CornerNet(list(model_cfg["channels"]), int(model_cfg["embed_dim"]), num_classes)
    return model.to(memory_format=torch.channels_last)


def load_trained(model_path: str | Path, device: torch.device) -> CornerNet:
    """Rebuild a trained model from ``model.pt`` in eval mode.

    ``weights_only=True``: an artifact is data, never code, so loading one cannot run
    anything a tampered file smuggles in.
    """
    with reading(model_path):
        blob = torch.load(model_path, map_location=device, weights_only=True)
        # the head's width: 15 corner-digit classes, 10 in the spurious-background study
        model = build_model(blob["model_cfg"], blob.get("num_classes", NUM_CLASSES)).to(device)
        model.load_state_dict(blob["state_dict"])
    return model.eval()
