"""FCL-random: the key ablation. Identical to FCL except that H is drawn at random instead
of by utility, so it tells whether utility matters or any contrastive perturbation would do."""

from __future__ import annotations

from robsens.blocks.attribution import select_random
from robsens.methods import register
from robsens.methods.fcl import FCL


@register("fcl_random")
class FCLRandom(FCL):
    ROLE = "ablation"
    select = staticmethod(select_random)
