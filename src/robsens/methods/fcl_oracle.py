"""FCL with an oracle H: claim 3's positive control (docs/science.md section 9, "Controls").

Identical to FCL except that where the corner digit decides the label (classes 10-14: a centre
0-4 with a corner digit) H is the corner digit's patches, exactly, instead of the top-k
utility patches; every other image keeps FCL's utility-selected H, and L, the views and the
term are FCL's. A model built to be sensitive to the corner in that context and only there:
if the context-selectivity instrument does not move for it, the instrument cannot show
FCL's effect either.

The corner patches are those touching the corner square (data.corner_size and
data.corner_position, read in :meth:`FCLOracle.resolve`); H is all of them whatever k is
(the 10 px corner covers 25 patches of 2 px, more than k = 20 of 196), and L, drawn as FCL
draws it from the low-utility pool, avoids them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from robsens.blocks.attribution import patch_reduce, select_low
from robsens.blocks.regions import region_masks
from robsens.core.domain import RARE_CLASSES
from robsens.methods import register
from robsens.methods.fcl import FCL

# the classes 10 + c: a centre c in 0-4 whose corner digit decides the label
CORNER_DECIDES = RARE_CLASSES


@register("fcl_oracle")
class FCLOracle(FCL):
    ROLE = "positive_control"

    def __init__(self, model, hparams) -> None:
        super().__init__(model, hparams)
        _, corner = region_masks(hparams["corner_size"], hparams["corner_position"])
        # (1, P): the patches with at least one corner pixel, in patch_reduce's order
        self.corner_patches = patch_reduce(corner[None, None].float(), hparams["patch"],
                                           "sum") > 0

    @classmethod
    def resolve(cls, hparams: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """FCL's resolution plus the corner square the data were built with, where H lies."""
        return super().resolve(hparams, params) | {
            "corner_size": params["data"]["corner_size"],
            "corner_position": params["data"]["corner_position"]}

    def feature_sets(self, utility: torch.Tensor, y: torch.Tensor, generator: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """FCL's H and L, then for the images whose corner decides the label H = the corner
        patches and L redrawn outside them (a second draw on every batch, so the generator
        advances the same whatever the labels)."""
        high, low = super().feature_sets(utility, y, generator)
        decides = torch.isin(y, torch.tensor(CORNER_DECIDES, device=y.device))[:, None]
        high = torch.where(decides, self.corner_patches.to(high.device), high)
        low_outside = select_low(utility, high, self.size(utility.shape[1]), generator,
                                 self.hparams["low_pool"])
        return high, torch.where(decides, low_outside, low)
