"""Corner-digit composition (docs/science.md section 1) and the split loader.

A share ``corner_fraction`` of images gets a small second digit pasted (per-pixel max)
into a corner; a centre digit c in 0-4 then becomes class 10 + c, a centre 5-9 keeps its
label. Corner digits come from pools disjoint from the centre digits. Besides the i.i.d.
splits, the paired probe shows the same centre digits with and without a corner digit (and
``val_probe`` does so for the validation split's centre digits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from robsens.blocks.regions import CENTRE_BOX, corner_slices
from robsens.core.config import ParamsError
from robsens.core.domain import NUM_CLASSES
from robsens.core.errors import reading
from robsens.core.io import file_md5, save_json, save_npz
from robsens.pipeline import paths


def corner_label(centre: np.ndarray, has_corner: np.ndarray) -> np.ndarray:
    """Class of a composed image: 10 + c for a centre 0-4 with a corner, else c."""
    return np.where(has_corner & (centre < 5), centre + 10, centre).astype(np.int64)


def shrink(digits: np.ndarray, size: int) -> np.ndarray:
    """Crop the MNIST 20x20 digit box and area-downsample it to ``size`` px (uint8)."""
    lo, hi = CENTRE_BOX
    box = torch.from_numpy(digits[:, lo:hi, lo:hi]).float().unsqueeze(1)
    small = F.interpolate(box, size=(size, size), mode="area")
    return small.squeeze(1).round().clamp(0, 255).to(torch.uint8).numpy()


def paste(centre: np.ndarray, corner: np.ndarray, data_cfg: dict) -> np.ndarray:
    """Blend shrunken corner digits into the corner of centre images by per-pixel max."""
    out = centre.copy()
    rows, cols = corner_slices(data_cfg["corner_size"], data_cfg["corner_position"])
    out[:, rows, cols] = np.maximum(out[:, rows, cols], shrink(corner, data_cfg["corner_size"]))
    return out


def digit_pools(data_cfg: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Disjoint train-side and test-side pools of (uint8 images, labels) from the source."""
    # Here, not at the top: the stages that only load the splits skip matplotlib and PIL.
    from robsens.data import mnist, synthetic

    n_train_side = data_cfg["n_train"] + data_cfg["n_val"] + data_cfg["corner_pool"]
    n_test_side = data_cfg["n_test"] + data_cfg["n_probe"] + data_cfg["corner_pool"]
    seed = data_cfg["seed"]
    if data_cfg["source"] == "synthetic":
        cfg = data_cfg["synthetic"]
        return {
            "train": synthetic.synthetic_pool(n_train_side, cfg, seed=2 * seed),
            "test": synthetic.synthetic_pool(n_test_side, cfg, seed=2 * seed + 1),
        }
    cfg = data_cfg["mnist"]
    rng = np.random.default_rng(seed)
    if cfg["test_split_only"]:
        images, labels = mnist.load_split("test", cfg)
        order = rng.permutation(len(labels))
        half = len(order) // 2
        pools = {"train": order[:half], "test": order[half:]}
        pools = {k: (images[v], labels[v]) for k, v in pools.items()}
    else:
        pools = {split: mnist.load_split(split, cfg) for split in ("train", "test")}
    need = {"train": n_train_side, "test": n_test_side}
    for side, (images, labels) in pools.items():
        if len(labels) < need[side]:
            raise ParamsError(
                f"params: the MNIST {side}-side pool has {len(labels)} digits but data.n_* "
                f"and data.corner_pool ask for {need[side]}; lower them"
            )
        keep = rng.permutation(len(labels))[: need[side]]
        pools[side] = (images[keep], labels[keep])
    return pools


def _compose(centre: np.ndarray, labels: np.ndarray, corners: np.ndarray,
             data_cfg: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(labels)
    has_corner = np.zeros(n, dtype=bool)
    has_corner[rng.permutation(n)[: round(n * data_cfg["corner_fraction"])]] = True
    pick = rng.integers(len(corners), size=int(has_corner.sum()))
    x = centre.copy()
    x[has_corner] = paste(centre[has_corner], corners[pick], data_cfg)
    return {"x": x, "y": corner_label(labels, has_corner), "centre": labels, "corner": has_corner}


def _probe(centre: np.ndarray, labels: np.ndarray, corners: np.ndarray,
           data_cfg: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    pick = rng.integers(len(corners), size=len(labels))
    return {
        "x_plain": centre,
        "x_corner": paste(centre, corners[pick], data_cfg),
        "centre": labels,
        "y_plain": labels.astype(np.int64),
        "y_corner": corner_label(labels, np.ones(len(labels), dtype=bool)),
    }


def build_splits(data_cfg: dict) -> dict[str, dict[str, np.ndarray]]:
    """All five splits as arrays; deterministic in ``data_cfg`` (seed included).

    ``val_probe`` is the validation side's paired probe (``evaluate.split: val``): the
    validation split's centre digits (at most ``n_probe``), each with and without a corner
    digit from the train-side corner pool, so a validation-scored run reads nothing
    test-side. It draws from its own generator: the other four splits are the same bytes
    as without it."""
    pools = digit_pools(data_cfg)
    rng = np.random.default_rng(data_cfg["seed"] + 7919)
    (tr_x, tr_y), (te_x, te_y) = pools["train"], pools["test"]
    n_tr, n_va, n_te, n_pr = (data_cfg[k] for k in ("n_train", "n_val", "n_test", "n_probe"))
    tr_corners, te_corners = tr_x[n_tr + n_va :], te_x[n_te + n_pr :]
    return {
        "train": _compose(tr_x[:n_tr], tr_y[:n_tr], tr_corners, data_cfg, rng),
        "val": _compose(tr_x[n_tr : n_tr + n_va], tr_y[n_tr : n_tr + n_va], tr_corners,
                        data_cfg, rng),
        "test": _compose(te_x[:n_te], te_y[:n_te], te_corners, data_cfg, rng),
        "probe": _probe(te_x[n_te : n_te + n_pr], te_y[n_te : n_te + n_pr], te_corners,
                        data_cfg, rng),
        "val_probe": _probe(tr_x[n_tr : n_tr + min(n_va, n_pr)],
                            tr_y[n_tr : n_tr + min(n_va, n_pr)], tr_corners, data_cfg,
                            np.random.default_rng(data_cfg["seed"] + 7920)),
    }


def synthesize(data_cfg: dict, out_dir: str | Path) -> dict:
    """Write ``{split}.npz`` and ``manifest.json`` (source, class counts, checksums)."""
    out_dir = Path(out_dir)
    splits = build_splits(data_cfg)
    manifest: dict = {"source": data_cfg["source"], "data_params": data_cfg, "splits": {}}
    for name, arrays in splits.items():
        path = out_dir / f"{name}.npz"
        save_npz(path, **arrays)
        labels = arrays["y"] if "y" in arrays else arrays["y_corner"]
        manifest["splits"][name] = {
            "file": path.name,
            "md5": file_md5(path),
            "n": len(labels),
            "class_counts": np.bincount(labels, minlength=NUM_CLASSES).tolist(),
            "with_corner": int(arrays["corner"].sum()) if "corner" in arrays else len(labels),
        }
    save_json(out_dir / paths.MANIFEST_FILE, manifest)
    return manifest


def load_split(data_dir: str | Path, split: str, device: torch.device | str = "cpu"
               ) -> dict[str, torch.Tensor]:
    """A split as tensors; image arrays become float (n, 1, 28, 28) in [0, 1]."""
    path = Path(data_dir) / f"{split}.npz"
    with reading(path), np.load(path) as raw:
        out = {}
        for key in raw.files:
            value = torch.from_numpy(raw[key])
            if key.startswith("x"):
                value = value.float().div_(255).unsqueeze(1)
            out[key] = value.to(device)
    return out
