"""Feature Contrastive Learning (Paper A; docs/science.md section 3).

Per batch: a detached per-patch utility, either |dCE/dx| summed per patch from the same forward
pass as the cross-entropy (``utility: gradient``, no second forward) or the loss change when the
patch is set to 0 (``utility: masking``: section 2's perturbation form, the definition itself;
section 9 measured the gradient form to cover the corner digit at nearly the same rate in both
contexts); H = the top-k utility patches, L = k patches drawn from the low-utility end. The
positive view perturbs only L, the negative view only H, and an InfoNCE term on normalised
(optionally projected) embeddings pulls g(x) towards the positive and away from the negative
(and, optionally, the batch's other examples): sensitive where the input matters, robust
where it does not. The views can perturb as the
evaluation does (``perturbation: sensitivity`` or ``sensitivity_corner``, ``patch:
sensitivity``), resolved from params' ``sensitivity`` section in :meth:`FCL.resolve`.
:meth:`FCL.diagnostics` records whether the term engaged (section 9): its value against its
chance value ln(1 + N) and its gradient's size against the cross-entropy's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robsens.blocks.attribution import (
    input_gradient,
    masking_utility,
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
        "utility": {
            "enum": ["gradient", "masking"],
            "description": "Contextual utility that ranks the patches: gradient (|dCE/dx| "
            "summed per patch, from the training forward pass; nearly free) or masking "
            "(|CE(x with the patch set to 0) - CE(x)|, docs/science.md section 2's perturbation "
            "form: one extra forward per patch holding ink, evaluate.batch_size copies per "
            "pass: a training step costs about 7x the gradient one with 2 px patches on one "
            "CPU thread, 3x with 4 px, 2x with 7 px). Chosen on validation (docs/fcl-sweep.md; "
            "`python -m robsens bench utility` measures how contextual each is).",
        },
        "lam": {
            "type": "number", "minimum": 0,
            "description": "Weight lambda of the contrastive (InfoNCE) term added to the "
            "cross-entropy. Chosen on validation (docs/fcl-sweep.md).",
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
            "is ranked and which the views perturb; must divide 28. "
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
            "themselves.",
        },
        "batch_negatives": {
            "type": "boolean",
            "description": "Use the batch's other examples (their positive views) as negatives "
            "too, besides each example's own H-perturbed view; false: the paper's term, the "
            "H-perturbed view the only negative.",
        },
    },
    "required": ["utility", "lam", "tau", "k_frac", "low_pool", "patch", "perturbation",
                 "strength", "warmup_epochs", "projection_dim", "batch_negatives"],
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


def info_nce_chance(batch_size: int, batch_negatives: bool) -> float:
    """ln(1 + N), the value of :func:`info_nce` when every similarity is equal (an embedding
    that tells the views apart no better than chance), for N = 1 negative (the H-perturbed
    view) plus the batch's B - 1 other examples with ``batch_negatives``: the line a term
    that learned anything falls clearly below (docs/science.md section 9, "Engaged")."""
    return math.log(1 + 1 + (batch_size - 1 if batch_negatives else 0))


def _norm(grads: tuple[torch.Tensor | None, ...]) -> torch.Tensor:
    """l2 norm of a gradient over many tensors; None (a weight the loss does not reach) is 0."""
    return torch.linalg.vector_norm(torch.stack([g.norm() for g in grads if g is not None]))


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
        the hparams say so, the one place those links are read (the training job's
        fingerprint holds the resolved values, so changing them retrains exactly these
        models); and ``chunk_size``, the masking utility's copies per forward pass, from
        evaluate.batch_size (the project's images per pass, sized for the CPU cache)."""
        hp, sens = dict(hparams), params["sensitivity"]
        if hp["perturbation"] in EVALUATION_PERTURBATIONS:
            hp["perturbation"] = sens[EVALUATION_PERTURBATIONS[hp["perturbation"]]]
            hp["strength"] = sens["strength"]
        if hp["patch"] == "sensitivity":
            hp["patch"] = sens["patch"]
        hp["chunk_size"] = params["evaluate"]["batch_size"]
        return hp

    def extra_modules(self) -> nn.Module | None:
        return self.projection

    def size(self, n_patches: int) -> int:
        """k = |H| = |L|: k_frac of the patches, at least 1."""
        return max(1, round(self.hparams["k_frac"] * n_patches))

    def utility(self, x: torch.Tensor, y: torch.Tensor, ce_sum: torch.Tensor) -> torch.Tensor:
        """Per-patch utility (B, P), detached so that no gradient flows through the selection.

        ``ce_sum`` is the batch's summed cross-entropy from the training forward pass, whose
        input ``x`` requires grad under the gradient utility (each image's slice of d ce_sum/dx
        is then its own |dl/dx|); the masking utility runs its own forwards without gradient.
        """
        hp = self.hparams
        if hp["utility"] == "gradient":
            return patch_reduce(input_gradient(ce_sum, x).detach().abs(), hp["patch"], "sum")
        return masking_utility(self.model, x, y, hp["patch"], hp["chunk_size"])

    def feature_sets(self, utility: torch.Tensor, y: torch.Tensor, generator: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """H and L, boolean (B, P) masks, from the utility (the labels are for the oracle)."""
        return self.select(utility, self.size(utility.shape[1]), generator,
                           self.hparams["low_pool"])

    def views(self, x: torch.Tensor, high: torch.Tensor, low: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Positive (L perturbed) and negative (H perturbed) views of the detached input."""
        hp, side = self.hparams, x.shape[-1]
        x = x.detach()
        values = perturbed_values(x, hp["perturbation"], hp["strength"], generator)
        x_pos = torch.where(patches_to_pixels(low, hp["patch"], side), values, x)
        x_neg = torch.where(patches_to_pixels(high, hp["patch"], side), values, x)
        return x_pos, x_neg

    def terms(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy and the contrastive term past warm-up: one code path for the
        training step and the diagnostics' two gradients."""
        hp = self.hparams
        x = x.detach().requires_grad_(hp["utility"] == "gradient")
        z = self.model.embed(x)
        ce_sum = F.cross_entropy(self.model.head(z), y, reduction="sum")
        utility = self.utility(x, y, ce_sum)
        x_pos, x_neg = self.views(x, *self.feature_sets(utility, y, generator), generator)
        # two batch-sized passes, not one of twice the size: on CPU, cheaper per image
        z_pos, z_neg = self.model.embed(x_pos), self.model.embed(x_neg)
        if self.projection is not None:
            z, z_pos, z_neg = self.projection(torch.cat([z, z_pos, z_neg])).chunk(3)
        return ce_sum / len(y), info_nce(z, z_pos, z_neg, hp["tau"], hp["batch_negatives"])

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy, plus lam x the contrastive term after warm-up. The statistics carry
        the term's chance value and ``fcl_active`` (0 in warm-up, where ``fcl`` is a
        placeholder 0, not a value below chance)."""
        hp = self.hparams
        chance = info_nce_chance(len(y), hp["batch_negatives"])
        if epoch < hp["warmup_epochs"]:
            ce = F.cross_entropy(self.model(x), y)
            return ce, {"ce": ce.item(), "fcl": 0.0, "fcl_chance": chance, "fcl_active": 0.0}
        ce, contrastive = self.terms(x, y, generator)
        return ce + hp["lam"] * contrastive, {"ce": ce.item(), "fcl": contrastive.item(),
                                              "fcl_chance": chance, "fcl_active": 1.0}

    def diagnostics(self, x: torch.Tensor, y: torch.Tensor, epoch: int,
                    generator: torch.Generator) -> dict[str, float]:
        """The engagement record (docs/science.md section 9) on one batch: ``fcl``, the term;
        ``fcl_chance``, its chance value; ``fcl_grad_share``, ||d(lam L_FCL)/dw|| / ||dCE/dw||
        over the trainable weights (classifier and projection head); ``fcl_active``, 1 once the
        term is in the objective. Computed in training mode (the objective the optimizer sees)
        with torch.autograd.grad, so no .grad is written and no step taken, and every module's
        train/eval mode is restored afterwards. In warm-up the term is not in the objective:
        ``fcl`` and ``fcl_grad_share`` are 0 and ``fcl_active`` 0, without a forward pass."""
        hp = self.hparams
        record = {"fcl": 0.0, "fcl_chance": info_nce_chance(len(y), hp["batch_negatives"]),
                  "fcl_grad_share": 0.0, "fcl_active": 0.0}
        if epoch < hp["warmup_epochs"]:
            return record
        parts = [self.model] if self.projection is None else [self.model, self.projection]
        modes = {m: m.training for part in parts for m in part.modules()}
        weights = [w for part in parts for w in part.parameters() if w.requires_grad]
        try:
            for part in parts:
                part.train()
            with torch.enable_grad():
                ce, contrastive = self.terms(x, y, generator)
                ce_grads = torch.autograd.grad(ce, weights, retain_graph=True, allow_unused=True)
                fcl_grads = torch.autograd.grad(hp["lam"] * contrastive, weights,
                                                allow_unused=True)
        finally:
            for module, mode in modes.items():
                module.training = mode
        return record | {"fcl": contrastive.item(), "fcl_active": 1.0,
                         "fcl_grad_share": (_norm(fcl_grads) / _norm(ce_grads)).item()}
