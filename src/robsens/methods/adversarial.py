"""PGD adversarial training (Madry et al.) under l_inf and l_2: Paper B's subject.

Each batch is replaced by its PGD adversarial version (the attack of
``robsens.blocks.attacks``); the two registered methods differ only in the norm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robsens.blocks.attacks import pgd_attack
from robsens.methods import Method, register

PGD_HPARAMS = {
    "properties": {
        "eps": {
            "type": "number", "exclusiveMinimum": 0,
            "description": "Radius of the attack ball in the method's norm (pixels in [0, 1]; "
            "l_2 is over all 784 pixels): small enough that the digit stays legible.",
        },
        "steps": {
            "type": "integer", "minimum": 1,
            "description": "PGD steps per training batch. Each costs a forward and backward "
            "pass, so a few steps keep adversarial training at a few times ERM's step time.",
        },
        "step_size": {
            "type": "number", "exclusiveMinimum": 0,
            "description": "Length of each ascent step in the method's norm (gradient sign "
            "for l_inf, normalised gradient for l_2), projected back onto the ball and [0, 1] "
            "after each; 0.4 eps, so that the few steps can cross the ball.",
        },
        "random_start": {
            "type": "boolean",
            "description": "Start from a point drawn uniformly in the ball (the training "
            "generator's) instead of the clean image.",
        },
    },
    "required": ["eps", "steps", "step_size", "random_start"],
}


class PGDTraining(Method):
    HPARAMS = PGD_HPARAMS
    ROLE = "adversarial_curve"
    CURVE_PARAM = "eps"

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
