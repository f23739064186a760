"""Spurious-background data: a centre digit (10 classes) framed by a cue texture.

The digit is confined to MNIST's central 20x20 box (``CENTRE_BOX``; the few ink pixels a
digit may have outside it are cut), the cue is drawn only in the 4-pixel frame around it, so
foreground (the box) and background (the frame) are disjoint and cover the image. The
foreground is stored per image as a box, not as a pixel mask of the ink: the blank inside the
box is part of the digit's evidence (where a stroke is absent tells a 1 from a 7), noise on
the ink alone would leave it untouched, and a box makes the two regions about equally large
(400 and 384 pixels) for every image. RFS reads the region from the stored box, so a variant
with per-image boxes needs no other change.

Cue families: 10 sinusoidal gratings with a random phase per image, scaled to ``contrast``:
family k has period 3 px (k < 5) or 6 px (k >= 5) and orientation (k + 2 [k >= 5]) mod 5 x 36
degrees (:func:`family_geometry`), so that the reversed cue, family (y + 5) mod 10, differs
from the label's family in both period and orientation (by 72 degrees).
The family agrees with the label with probability ``agreement`` in train, val and test;
otherwise it is another class's family, uniformly. In ``test_independent`` it is uniform over
the 10 families, whatever the label; in ``test_reversed`` it is always the family of class
(y + 5) mod 10 (:data:`REVERSED_SHIFT`, a derangement: never the label's own). The three test
splits show the same centre digits, so they differ in the cue only (paired per image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from robsens.blocks.regions import CENTRE_BOX, IMAGE_SIDE
from robsens.core.io import file_md5, save_json, save_npz
from robsens.data.corner import digit_pools
from robsens.pipeline import paths

NUM_CLASSES = 10
REVERSED_SHIFT = 5  # test_reversed: the cue of class (y + 5) mod 10
PERIODS = (3.0, 6.0)  # px: families 0-4 and 5-9
ORIENTATION_STEP = np.pi / 5  # 36 degrees between the five orientations


def foreground_box() -> np.ndarray:
    """(top, left, bottom, right) of the centre digit's region: MNIST's 20x20 box."""
    lo, hi = CENTRE_BOX
    return np.array([lo, lo, hi, hi], dtype=np.int64)


def box_masks(boxes: np.ndarray) -> np.ndarray:
    """Boolean (n, 28, 28) masks of per-image boxes (top, left, bottom, right)."""
    rows = np.arange(IMAGE_SIDE)
    inside_r = (rows >= boxes[:, 0, None]) & (rows < boxes[:, 2, None])
    inside_c = (rows >= boxes[:, 1, None]) & (rows < boxes[:, 3, None])
    return inside_r[:, :, None] & inside_c[:, None, :]


def family_geometry(families: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orientation (radians) and period (px) of each cue family."""
    upper = families >= 5
    theta = ((families + 2 * upper) % 5) * ORIENTATION_STEP
    return theta, np.where(upper, PERIODS[1], PERIODS[0])


def cue_images(families: np.ndarray, contrast: float, rng: np.random.Generator) -> np.ndarray:
    """Float (n, 28, 28) gratings of the given families (phase drawn per image) over the
    whole image; :func:`compose` keeps them in the frame around the digit's box."""
    theta, period = family_geometry(families)
    phase = rng.uniform(0, 2 * np.pi, size=len(families))
    yy, xx = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE].astype(float)
    along = (xx[None] * np.cos(theta)[:, None, None] + yy[None] * np.sin(theta)[:, None, None])
    wave = 0.5 + 0.5 * np.cos(2 * np.pi * along / period[:, None, None] + phase[:, None, None])
    return contrast * wave


def training_cues(labels: np.ndarray, agreement: float, rng: np.random.Generator) -> np.ndarray:
    """The label's family with probability ``agreement``, else another class's, uniformly."""
    agree = rng.random(len(labels)) < agreement
    other = (labels + rng.integers(1, NUM_CLASSES, size=len(labels))) % NUM_CLASSES
    return np.where(agree, labels, other).astype(np.int64)


def compose(digits: np.ndarray, labels: np.ndarray, families: np.ndarray, contrast: float,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """uint8 images: the digit inside the box, the cue in the frame around it."""
    box = foreground_box()
    inside = box_masks(box[None])[0]
    cue = np.rint(cue_images(families, contrast, rng) * 255).astype(np.uint8)
    x = np.where(inside, digits, cue).astype(np.uint8)
    return {"x": x, "y": labels.astype(np.int64), "cue": families,
            "fg_box": np.tile(box, (len(labels), 1))}


def pool_config(data_cfg: dict[str, Any], spurious_cfg: dict[str, Any]) -> dict[str, Any]:
    """The corner-digit pools' settings sized for this study: its own seed and split sizes
    (the test splits share their digits), no corner digits."""
    return {**data_cfg, "seed": spurious_cfg["seed"], "n_train": spurious_cfg["n_train"],
            "n_val": spurious_cfg["n_val"], "n_test": spurious_cfg["n_test"], "n_probe": 0,
            "corner_pool": 0}


def build_splits(data_cfg: dict[str, Any], spurious_cfg: dict[str, Any]
                 ) -> dict[str, dict[str, np.ndarray]]:
    """Every split as arrays; deterministic in the two configs."""
    pools = digit_pools(pool_config(data_cfg, spurious_cfg))
    rng = np.random.default_rng(spurious_cfg["seed"] + 104729)
    (tr_x, tr_y), (te_x, te_y) = pools["train"], pools["test"]
    n_tr, n_va, n_te = (spurious_cfg[k] for k in ("n_train", "n_val", "n_test"))
    p, contrast = spurious_cfg["agreement"], spurious_cfg["contrast"]
    te_x, te_y = te_x[:n_te], te_y[:n_te]
    sides = {"train": (tr_x[:n_tr], tr_y[:n_tr]), "val": (tr_x[n_tr:n_tr + n_va],
                                                          tr_y[n_tr:n_tr + n_va])}
    splits = {name: compose(x, y, training_cues(y, p, rng), contrast, rng)
              for name, (x, y) in sides.items()}
    splits["test"] = compose(te_x, te_y, training_cues(te_y, p, rng), contrast, rng)
    splits["test_independent"] = compose(te_x, te_y, rng.integers(0, NUM_CLASSES, len(te_y)),
                                         contrast, rng)
    splits["test_reversed"] = compose(te_x, te_y, (te_y + REVERSED_SHIFT) % NUM_CLASSES,
                                      contrast, rng)
    return splits


def synthesize_spurious(data_cfg: dict[str, Any], spurious_cfg: dict[str, Any],
                        out_dir: str | Path) -> dict[str, Any]:
    """Write ``{split}.npz`` and ``manifest.json`` (source, class counts, cue agreement)."""
    out_dir = Path(out_dir)
    manifest: dict[str, Any] = {
        "source": data_cfg["source"], "spurious_params": spurious_cfg,
        "foreground_box": foreground_box().tolist(),
        "reversed_cue": f"(y + {REVERSED_SHIFT}) mod {NUM_CLASSES}", "splits": {}}
    for name, arrays in build_splits(data_cfg, spurious_cfg).items():
        path = out_dir / f"{name}.npz"
        save_npz(path, **arrays)
        manifest["splits"][name] = {
            "file": path.name, "md5": file_md5(path), "n": len(arrays["y"]),
            "class_counts": np.bincount(arrays["y"], minlength=NUM_CLASSES).tolist(),
            "cue_agreement": float(np.mean(arrays["cue"] == arrays["y"])),
        }
    save_json(out_dir / paths.MANIFEST_FILE, manifest)
    return manifest
