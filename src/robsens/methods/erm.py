"""ERM: plain cross-entropy, the reference every other method is compared with."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from robsens.methods import Method, register


@register("erm")
class ERM(Method):
    HPARAMS: ClassVar[dict] = {"properties": {}}
    ROLE = "baseline"

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        ce = F.cross_entropy(self.model(x), y)
        return ce, {"ce": ce.item()}
