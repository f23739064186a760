"""Image regions shared by data synthesis, region noise (RFS) and corner sensitivity.

The corner square is where corner digits are pasted; the centre region is the
20x20 box MNIST digits are fitted into, minus the corner square.
"""

from __future__ import annotations

import torch

IMAGE_SIDE = 28
CENTRE_BOX = (4, 24)  # MNIST fits digits into the central 20x20 box


def corner_slices(corner_size: int, corner_position: str) -> tuple[slice, slice]:
    """Row and column slices of the corner square (``top_left``, ``bottom_right``...)."""
    vertical, horizontal = corner_position.split("_")
    rows = slice(0, corner_size) if vertical == "top" else slice(IMAGE_SIDE - corner_size, None)
    cols = slice(0, corner_size) if horizontal == "left" else slice(IMAGE_SIDE - corner_size, None)
    return rows, cols


def region_masks(corner_size: int, corner_position: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean (28, 28) masks: (centre digit region, corner region); disjoint."""
    corner = torch.zeros(IMAGE_SIDE, IMAGE_SIDE, dtype=torch.bool)
    rows, cols = corner_slices(corner_size, corner_position)
    corner[rows, cols] = True
    centre = torch.zeros_like(corner)
    lo, hi = CENTRE_BOX
    centre[lo:hi, lo:hi] = True
    return centre & ~corner, corner
