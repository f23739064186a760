"""Feature Contrastive Learning (Paper A; science.md section 3).

Per batch: the utility map |dCE/dx| comes from the same forward pass as the cross-entropy
(no second forward) and is detached; H = the top-k utility patches, L = k patches drawn from
the low-utility end. The positive view perturbs only L, the negative view only H, and an
InfoNCE term on normalised (optionally projected) embeddings pulls g(x) towards the
positive and away from the negative (and, optionally, the batch's other examples):
sensitive where the input matters, robust where it does not. The views can perturb as the
evaluation does (``perturbation: sensitivity`` or ``sensitivity_corner``, ``patch:
sensitivity``), resolved from params' ``sensitivity`` section in :meth:`FCL.resolve`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robsens.blocks.attribution import (
    input_gradient,
    patch_reduce,
    patches_to_pixels,
    select_high_low,
)
from robsens.blocks.perturb import KINDS, perturbed_values
from robsens.methods import Method, register

# perturbation values that take the evaluation's perturbation: the key of params'
# `sensitivity` section whose kind the views then use (with sensitivity.strength).
EVALUATION_PERTURBATIONS = {"sensitivity": "perturbation",
                            "sensitivity_corner": "corner_perturbation"}
FCL_HPARAMS = {
    "properties": {
        "lam": {
            "type": "number", "minimum": 0,
            "description": "Weight lambda of the contrastive (InfoNCE) term added to the "
            "cross-entropy. Larger values raise alignment but cost clean and rare-class "
            "accuracy (the FCL sweep in the README).",
        },
        "tau": {
            "type": "number", "exclusiveMinimum": 0,
            "description": "InfoNCE temperature on the cosine similarities of the normalised "
            "embeddings; lower is sharper.",
        },
        "k_frac": {
            "type": "number", "exclusiveMinimum": 0, "maximum": 0.5,
            "description": "|H| = |L| = k_frac x the number of patches (at least 1); at most "
            "0.5 so that H and L can be disjoint.",
        },
        "low_pool": {
            "type": "number", "exclusiveMinimum": 0, "maximum": 1,
            "description": "L is drawn at random from this lowest-utility fraction of the "
            "patches (the low end, not just the complement of H), disjoint from H.",
        },
        "patch": {
            "enum": [1, 2, 4, 7, 14, "sensitivity"],
            "description": "Feature granularity: side (px) of the square patches whose utility "
            "|dCE/dx| (summed) is ranked and which the views perturb; must divide 28. "
            "sensitivity: sensitivity.patch, the evaluation maps' patch.",
        },
        "perturbation": {
            "enum": [*KINDS, *EVALUATION_PERTURBATIONS],
            "description": "How a view perturbs its patches: gaussian (add N(0, strength^2), "
            "clamp to [0, 1]), mask (set to 0) or replace (pixels of another batch image); or "
            "as the evaluation perturbs: sensitivity (sensitivity.perturbation, the maps') or "
            "sensitivity_corner (sensitivity.corner_perturbation, the context-selectivity "
            "corner scores'), both with sensitivity.strength in place of strength.",
        },
        "strength": {
            "type": "number", "minimum": 0,
            "description": "Std of the gaussian perturbation (pixels in [0, 1]); unused by "
            "mask and replace, and replaced by sensitivity.strength when perturbation is "
            "sensitivity or sensitivity_corner.",
        },
        "warmup_epochs": {
            "type": "integer", "minimum": 0,
            "description": "Plain cross-entropy epochs before the contrastive term starts, so "
            "that features are selected by the utility of a model that already classifies.",
        },
        "projection_dim": {
            "type": "integer", "minimum": 0,
            "description": "Output width of the MLP projection head (embed_dim -> embed_dim -> "
            "projection_dim) that InfoNCE compares; 0: contrast the embeddings g(x) "
            "themselves. In the validation sweep (README) dropping the head raised context "
            "selectivity (+0.04, main effect) and cost 1.7 points of clean accuracy.",
        },
        "batch_negatives": {
            "type": "boolean",
            "description": "Use the batch's other examples (their positive views) as negatives "
            "too, besides each example's own H-perturbed view; false: the paper's term, the "
            "H-perturbed view the only negative.",
        },
    },
    "required": ["lam", "tau", "k_frac", "low_pool", "patch", "perturbation", "strength",
                 "warmup_epochs", "projection_dim", "batch_negatives"],
}


def info_nce(z: torch.Tensor, z_pos: torch.Tensor, z_neg: torch.Tensor, tau: float,
             batch_negatives: bool) -> torch.Tensor:
    """Mean of -log(e^{z.z+/t} / (e^{z.z+/t} + sum_neg e^{z.z-/t})) on unit vectors."""
    z, z_pos, z_neg = (F.normalize(t, dim=1) for t in (z, z_pos, z_neg))
    pos = (z * z_pos).sum(1, keepdim=True) / tau
    neg = (z * z_neg).sum(1, keepdim=True) / tau
    logits = [pos, neg]
    if batch_negatives:  # the other examples' positive views
        others = z @ z_pos.T / tau
        logits.append(others.masked_fill(torch.eye(len(z), dtype=torch.bool,
                                                   device=z.device), float("-inf")))
    return (torch.logsumexp(torch.cat(logits, 1), 1) - pos.squeeze(1)).mean()


@register("fcl")
class FCL(Method):
    HPARAMS = FCL_HPARAMS
    ROLE = "fcl"
    select = staticmethod(select_high_low)  # FCL-random swaps only this

    def __init__(self, model, hparams) -> None:
        super().__init__(model, hparams)
        dim = hparams["projection_dim"]
        self.projection = (nn.Sequential(nn.Linear(model.embed_dim, model.embed_dim), nn.ReLU(),
                                         nn.Linear(model.embed_dim, dim)) if dim else None)

    @classmethod
    def resolve(cls, hparams: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """The views' perturbation and patch taken from params' ``sensitivity`` section where
        the hparams say so, the one place those links are read (the train stage lists the
        keys among its params, so changing them retrains)."""
        hp, sens = dict(hparams), params["sensitivity"]
        if hp["perturbation"] in EVALUATION_PERTURBATIONS:
            hp["perturbation"] = sens[EVALUATION_PERTURBATIONS[hp["perturbation"]]]
            hp["strength"] = sens["strength"]
        if hp["patch"] == "sensitivity":
            hp["patch"] = sens["patch"]
        return hp

    def extra_modules(self) -> nn.Module | None:
        return self.projection

    def views(self, x: torch.Tensor, grad: torch.Tensor, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Positive (L perturbed) and negative (H perturbed) views from a detached utility."""
        hp, side = self.hparams, x.shape[-1]
        utility = patch_reduce(grad.detach().abs(), hp["patch"], "sum")
        k = max(1, round(hp["k_frac"] * utility.shape[1]))
        high, low = self.select(utility, k, generator, hp["low_pool"])
        x = x.detach()
        values = perturbed_values(x, hp["perturbation"], hp["strength"], generator)
        x_pos = torch.where(patches_to_pixels(low, hp["patch"], side), values, x)
        x_neg = torch.where(patches_to_pixels(high, hp["patch"], side), values, x)
        return x_pos, x_neg

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        hp = self.hparams
        if epoch < hp["warmup_epochs"]:
            ce = F.cross_entropy(self.model(x), y)
            return ce, {"ce": ce.item(), "fcl": 0.0}
        x = x.detach().requires_grad_(True)
        z = self.model.embed(x)
        ce_sum = F.cross_entropy(self.model.head(z), y, reduction="sum")
        x_pos, x_neg = self.views(x, input_gradient(ce_sum, x), generator)
        # two batch-sized passes, not one of twice the size: on CPU, cheaper per image
        z_pos, z_neg = self.model.embed(x_pos), self.model.embed(x_neg)
        if self.projection is not None:
            z, z_pos, z_neg = self.projection(torch.cat([z, z_pos, z_neg])).chunk(3)
        contrastive = info_nce(z, z_pos, z_neg, hp["tau"], hp["batch_negatives"])
        ce = ce_sum / len(y)
        return ce + hp["lam"] * contrastive, {"ce": ce.item(), "fcl": contrastive.item()}
