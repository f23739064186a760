"""PGD adversarial training (Madry et al.) under l_inf and l_2: Paper B's subject.

Each batch is replaced by its PGD adversarial version (the attack of ``robsens.attacks``,
the same one evaluation uses); the two registered methods differ only in the norm.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from robsens.blocks.attacks import pgd_attack
from robsens.methods import Method, register

PGD_HPARAMS = {
    "properties": {
        "eps": {"type": "number", "exclusiveMinimum": 0},
        "steps": {"type": "integer", "minimum": 1},
        "step_size": {"type": "number", "exclusiveMinimum": 0},
        "random_start": {"type": "boolean"},
    },
    "required": ["eps", "steps", "step_size", "random_start"],
}


class PGDTraining(Method):
    NORM: ClassVar[str]
    HPARAMS = PGD_HPARAMS

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        hp = self.hparams
        x_adv = pgd_attack(self.model, x, y, self.NORM, hp["eps"], hp["steps"], hp["step_size"],
                           hp["random_start"], generator)
        ce = F.cross_entropy(self.model(x_adv), y)
        return ce, {"adv_ce": ce.item()}


@register("adv_linf")
class AdvLinf(PGDTraining):
    NORM = "linf"


@register("adv_l2")
class AdvL2(PGDTraining):
    NORM = "l2"
