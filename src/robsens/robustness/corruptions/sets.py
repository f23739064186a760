"""Corrupted test sets as versioned artifacts: one ``.npz`` per corruption, plus a manifest.

Images are stored as uint8 (round(255 x)), like the clean splits: the same seed then
gives byte-identical files, which DVC and Snakemake can trust as unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robsens.core.io import file_md5, load_json, load_npz, save_json, save_npz
from robsens.data.corner import load_split
from robsens.pipeline import paths
from robsens.robustness.corruptions import CORRUPTIONS, SEVERITIES, corrupt


def subset_index(n: int, n_images: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded random subset of ``n_images`` of ``n`` (all if None)."""
    if n_images is None or n_images >= n:
        return torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:n_images].sort().values


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) float in [0, 1] -> (N, H, W) uint8 on the CPU."""
    return (x.squeeze(1) * 255).round().to(torch.uint8).cpu()


def from_uint8(images: torch.Tensor | np.ndarray, device: torch.device | str) -> torch.Tensor:
    """(N, H, W) uint8 -> (N, 1, H, W) float in [0, 1] on ``device``."""
    return torch.as_tensor(images).to(device).float().div_(255).unsqueeze(1)


def corrupt_all_severities(x: torch.Tensor, name: str, seed: int) -> torch.Tensor:
    """(S, N, H, W) uint8: ``x`` under ``name`` at every severity."""
    return torch.stack([to_uint8(corrupt(x, name, s, seed)) for s in SEVERITIES])


def write_corrupted_sets(
    x: torch.Tensor,
    y: torch.Tensor,
    names: Sequence[str],
    seed: int,
    out_dir: str | Path,
    source: Mapping[str, Any],
) -> dict[str, Any]:
    """Write ``<name>.npz`` (x: (S, N, 28, 28) uint8, y, severities) and ``manifest.json``.

    ``source`` describes the clean split the sets derive from (split, file, md5), so the
    manifest ties each corrupted set to one data version.
    """
    out_dir = Path(out_dir)
    manifest: dict[str, Any] = {
        "seed": seed,
        "n": len(y),
        "severities": list(SEVERITIES),
        "source": dict(source),
        "corruptions": {},
    }
    labels = y.cpu().numpy()
    for name in names:
        path = out_dir / f"{name}.npz"
        images = corrupt_all_severities(x, name, seed).numpy()
        save_npz(path, x=images, y=labels, severities=np.array(SEVERITIES))
        spec = CORRUPTIONS[name]
        manifest["corruptions"][name] = {
            "file": path.name,
            "md5": file_md5(path),
            "suite": spec.suite,
            "family": spec.family,
            "parameter": spec.parameter,
            "levels": list(spec.levels),
        }
    save_json(out_dir / paths.MANIFEST_FILE, manifest)
    return manifest


def clean_subset(device: torch.device | str) -> dict[str, torch.Tensor]:
    """The clean images behind the corrupted sets: the split and subset the corrupt stage
    recorded (the test split, or the validation split under ``evaluate.split: val``)."""
    split = load_json(paths.CORRUPTED_DIR / paths.MANIFEST_FILE)["source"]["split"]
    test = load_split(paths.DATA_DIR, split, device)
    index = torch.from_numpy(load_npz(paths.CORRUPTED_SUBSET)["index"]).to(device)
    return {key: value[index] for key, value in test.items()}


def corrupt_test_split(params: Mapping[str, Any], device: torch.device | str) -> dict[str, Any]:
    """The noise-injection stage: corrupt a subset of the evaluation split (the test split,
    or validation under ``evaluate.split: val``) with every configured corruption."""
    cfg, name = params["robustness"], paths.eval_split(params, "test")
    test = load_split(paths.DATA_DIR, name, device)
    index = subset_index(len(test["y"]), cfg["n_images"], cfg["seed"])
    save_npz(paths.CORRUPTED_SUBSET, index=index.numpy())
    split = load_json(paths.DATA_MANIFEST)["splits"][name]
    source = {"split": name, "file": str(paths.DATA_DIR / split["file"]), "md5": split["md5"]}
    index = index.to(test["y"].device)
    return write_corrupted_sets(test["x"][index], test["y"][index], cfg["corruptions"],
                                cfg["seed"], paths.CORRUPTED_DIR, source)
