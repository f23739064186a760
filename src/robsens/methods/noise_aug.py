"""Gaussian-noise augmentation: the classic robust training that, pushed far, ignores rare
patterns. Each batch is trained on with fresh N(0, sigma^2) noise, clamped to [0, 1]."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from robsens.methods import Method, register


@register("noise_aug")
class NoiseAug(Method):
    HPARAMS: ClassVar[dict] = {
        "properties": {
            "sigma": {
                "type": "number", "minimum": 0,
                "description": "Std of the Gaussian noise added to every training image, fresh "
                "per batch (pixels in [0, 1], clamped after). One model per sigma traces the "
                "robustness curve: large sigmas buy corruption robustness at the cost of "
                "rare-class accuracy (claim 1).",
            },
        },
        "required": ["sigma"],
    }
    ROLE = "noise_curve"
    CURVE_PARAM = "sigma"

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        ce = F.cross_entropy(self.model((x + self.hparams["sigma"] * noise).clamp(0, 1)), y)
        return ce, {"ce": ce.item()}
