"""The corruption suite: 21 test-time corruptions of 28x28 grayscale digits, severities 1-5.

:data:`CORRUPTIONS` is the one table that defines the suite: for each corruption, the
function, the parameter it takes at each severity, the suite it comes from and its family.
Parameters follow MNIST-C (Mu & Gilmer 2019) and, for the ImageNet-C kinds, its
``ALL_CORRUPTIONS`` values, except where noted (``*``): MNIST-C gives stripe, dotted line,
zigzag and canny edges one level only (our level 5 or 1 is theirs), and ImageNet-C's blur
widths are for 224 px images.

Each corruption has a family (:data:`FAMILIES`), so that robustness can be read per kind of shift,
not only as one mean over a suite whose make-up is a choice. Every kind ImageNet-C has sits where
Hendrycks & Dietterich (2019) put it, their held-out kinds included: noise (Gaussian, shot, impulse,
speckle), blur (glass, motion, Gaussian), weather (fog, spatter, brightness), digital (contrast,
pixelate, JPEG). MNIST-C's own kinds: the affine warps (shear, scale, rotate, translate) form a
fifth family, geometric, as they move the digit instead of degrading its pixels; the drawn-on
artefacts (stripe, dotted line, zigzag, canny edges) are digital, synthetic edits of the image
rather than conditions of the scene.

Every function maps a float (N, 1, 28, 28) batch in [0, 1] to one of the same shape,
dtype, device and range, drawing randomness only from the generator it is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from robsens.robustness.corruptions import blur, geometric, noise, overlays, photometric

SEVERITIES = (1, 2, 3, 4, 5)
# Images per call of a corruption function. Small blocks stay in CPU cache: on 2 cores the
# suite runs 3-5x faster than on the whole split (Canny's hysteresis loop, JPEG's DCTs).
# A constant, so the random stream, and with it every output byte, depends on the seed only.
CHUNK = 256


# The families in the order the report groups corruptions by (the module docstring says why
# each corruption is in its family).
FAMILIES = ("noise", "blur", "weather", "digital", "geometric")


@dataclass(frozen=True)
class Corruption:
    """A corruption function and its parameter at severities 1-5, where it comes from
    (``suite``: MNIST-C or ImageNet-C) and what kind of shift it is (``family``)."""

    fn: Callable[[torch.Tensor, Any, torch.Generator], torch.Tensor]
    levels: tuple[Any, ...]
    parameter: str
    suite: str
    family: str


# fmt: off
CORRUPTIONS: dict[str, Corruption] = {
    # MNIST-C
    "shot_noise":    Corruption(noise.shot_noise, (60, 25, 12, 5, 3),
                                "photons per unit intensity", "MNIST-C", "noise"),
    "impulse_noise": Corruption(noise.impulse_noise, (0.03, 0.06, 0.09, 0.17, 0.27),
                                "share of pixels set to 0 or 1", "MNIST-C", "noise"),
    "glass_blur":    Corruption(blur.glass_blur,
                                ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
                                "(blur sigma, shuffle reach px, shuffle rounds)",
                                "MNIST-C", "blur"),
    "motion_blur":   Corruption(blur.motion_blur, (5, 7, 9, 11, 13),
                                "streak length px, angle in [-45, 45] deg *", "MNIST-C", "blur"),
    "shear":         Corruption(geometric.shear, (0.2, 0.4, 0.6, 0.8, 1.0),
                                "shear angle rad, random sign", "MNIST-C", "geometric"),
    "scale":         Corruption(geometric.scale, (0.9, 0.8, 0.7, 0.6, 0.5),
                                "zoom-out factor", "MNIST-C", "geometric"),
    "rotate":        Corruption(geometric.rotate, (0.2, 0.4, 0.6, 0.8, 1.0),
                                "angle rad, random sign", "MNIST-C", "geometric"),
    "brightness":    Corruption(photometric.brightness, (0.1, 0.2, 0.3, 0.4, 0.5),
                                "added intensity", "MNIST-C", "weather"),
    "translate":     Corruption(geometric.translate, (1, 2, 3, 4, 5),
                                "shift px per axis, random signs", "MNIST-C", "geometric"),
    "stripe":        Corruption(overlays.stripe, (3, 4, 5, 6, 7),
                                "inverted edge band width px *", "MNIST-C", "digital"),
    "fog":           Corruption(overlays.fog,
                                ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)),
                                "(fog strength, fractal decay)", "MNIST-C", "weather"),
    "spatter":       Corruption(overlays.spatter,
                                ((0.65, 0.3, 4, 0.69, 0.6), (0.65, 0.3, 3, 0.68, 0.6),
                                 (0.65, 0.3, 2, 0.68, 0.5), (0.65, 0.3, 1, 0.65, 1.5),
                                 (0.67, 0.4, 1, 0.65, 1.5)),
                                "(mean, std, blur sigma, threshold, edge sigma)",
                                "MNIST-C", "weather"),
    "dotted_line":   Corruption(overlays.dotted_line, (1, 2, 3, 4, 5),
                                "number of dashed lines *", "MNIST-C", "digital"),
    "zigzag":        Corruption(overlays.zigzag, (1, 2, 3, 4, 5),
                                "number of zigzag lines *", "MNIST-C", "digital"),
    "canny_edges":   Corruption(overlays.canny_edges, (0.2, 0.4, 0.6, 0.8, 1.0),
                                "weight of the edge map blended in *", "MNIST-C", "digital"),
    # ImageNet-C kinds that make sense at 28x28
    "gaussian_noise": Corruption(noise.gaussian_noise, (0.08, 0.12, 0.18, 0.26, 0.38),
                                 "noise std", "ImageNet-C", "noise"),
    "speckle_noise":  Corruption(noise.speckle_noise, (0.15, 0.2, 0.35, 0.45, 0.6),
                                 "multiplicative noise std", "ImageNet-C", "noise"),
    "gaussian_blur":  Corruption(blur.gaussian_blur, (0.6, 0.8, 1.0, 1.3, 1.6),
                                 "blur sigma px *", "ImageNet-C", "blur"),
    "contrast":       Corruption(photometric.contrast, (0.4, 0.3, 0.2, 0.1, 0.05),
                                 "contrast factor", "ImageNet-C", "digital"),
    "pixelate":       Corruption(photometric.pixelate, (0.6, 0.5, 0.4, 0.3, 0.25),
                                 "downsampling factor", "ImageNet-C", "digital"),
    "jpeg":           Corruption(photometric.jpeg, (25, 18, 15, 10, 7),
                                 "JPEG quality", "ImageNet-C", "digital"),
}
# fmt: on


def by_family(names: Iterable[str]) -> dict[str, list[str]]:
    """``names`` grouped by family, families in :data:`FAMILIES` order, names in given order;
    families none of ``names`` belongs to are left out."""
    names = list(names)
    groups = {family: [n for n in names if CORRUPTIONS[n].family == family]
              for family in FAMILIES}
    return {family: group for family, group in groups.items() if group}


def corruption_seed(seed: int, name: str, severity: int) -> int:
    """An independent stream per (corruption, severity), so running a subset of the
    suite, or the suite in another order, never changes the bytes of any one set."""
    digest = hashlib.sha256(f"{seed}:{name}:{severity}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def corrupt(x: torch.Tensor, name: str, severity: int, seed: int) -> torch.Tensor:
    """``x`` (N, 1, 28, 28) float in [0, 1] under corruption ``name`` at ``severity`` (1-5)."""
    if name not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    spec, level = CORRUPTIONS[name], CORRUPTIONS[name].levels[severity - 1]
    g = torch.Generator(device=x.device).manual_seed(corruption_seed(seed, name, severity))
    return torch.cat([spec.fn(block, level, g) for block in x.split(CHUNK)])
